"""Links to a citizen's case page: an unguessable token, bound to one case and its citizen, that expires.

Only the SHA-256 of the token is stored: the database (or a backup of it) opens no page. The token
itself exists in the URL the citizen received and nowhere else.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.entities import Case, Citizen


class CaseLink(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)  # hex SHA-256 of the token in the URL
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "models.Case", related_name="page_links", on_delete=fields.CASCADE
    )
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="page_links", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)  # the return visit was answered through this link

    class Meta:
        table = "case_link"
