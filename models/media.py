"""Links staff open to listen to (or look at) what a citizen sent: an unguessable token, bound to one
stored message, that expires.

Only the SHA-256 of the token is stored, as for the citizen's case page (`models/case_page.py`): the
database (or a backup of it) opens no file. The token exists in the triage card's link and nowhere else.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.entities import CaseMessage


class MediaLink(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)  # hex SHA-256 of the token in the URL
    message: fields.ForeignKeyRelation[CaseMessage] = fields.ForeignKeyField(
        "models.CaseMessage", related_name="media_links", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "media_link"
