"""12345 hotline work orders imported as cases: the hotline's own number and what its export said.

A work order is a `Case` with source `hotline` (its text is the case's first message); this row keeps
what belongs to the hotline: its number (unique, so a re-import finds the case again), the status and
category as the file wrote them, and the caller's phone number and address. The phone number is kept
for a call-back and shown masked (138****1234) wherever it is shown.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.entities import Case

# The one citizen row every hotline case points to: the caller is no WeChat user, and nothing is ever
# sent to it (handlers/cases/outbox.py: send_to_citizen).
HOTLINE_OPENID = "hotline:12345"
HOTLINE_CHANNEL = "hotline"


class HotlineOrder(Model):
    """A 12345 hotline work order: its number, the case it became, the values of its last import."""

    id = fields.IntField(primary_key=True)
    external_id = fields.CharField(max_length=64, unique=True)
    case: fields.OneToOneRelation[Case] = fields.OneToOneField(
        "models.Case", related_name="hotline_order", on_delete=fields.CASCADE
    )
    status = fields.CharField(max_length=40, default="")  # the file's value, e.g. 已办结
    category = fields.CharField(max_length=100, default="")  # the file's value, e.g. 市容环卫
    phone = fields.CharField(max_length=32, null=True)
    address = fields.CharField(max_length=500, null=True)
    imported_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "hotline_order"
