"""Template messages WeChat accepted, kept until WeChat tells how they ended.

A template send answers a `msgid` at once; whether it reached the citizen comes later, as a
TEMPLATESENDJOBFINISH event (`success`, `failed:user block`, `failed: system failed`). The row lets
that event find its case: a survey the citizen never got is a phone task, not a visit left unanswered.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class TemplateSend(Model):
    """A template message WeChat accepted (its msgid), and the outcome its TEMPLATESENDJOBFINISH told."""

    msgid = fields.BigIntField(primary_key=True, generated=False)
    case: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Case", null=True, related_name="template_sends", on_delete=fields.SET_NULL
    )
    purpose = fields.CharField(max_length=16)  # reply | question | survey | notice
    status = fields.CharField(max_length=64, null=True)  # WeChat's Status, once the event came
    created_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "template_send"
