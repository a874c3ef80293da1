"""Read-only tokens for the statistics API (`/api/v1/stats/...`), made by `mashang staff token <key>`.

Only the SHA-256 of a token is stored: the token itself is shown once, when it is made. A staff member
has at most one live token; making a new one revokes the one before."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.entities import Staff


class StaffToken(Model):
    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)  # sha256 hex of the token
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "staff_token"
