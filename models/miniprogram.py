"""The mini-program channel's own rows: uploaded files, one-time subscribe consents, and the answers
of requests sent with an Idempotency-Key.

A mini-program citizen is a `Citizen` with channel "wxa" (its own openid; `unionid`, when WeChat gives
one, is what links it to the same person's official-account row). Its phone number, kept for the
phone return visit, is `Citizen.phone`.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.entities import Citizen


class Upload(Model):
    """A file a mini-program citizen uploaded (stored under the media directory), used once.

    `message_id` is the case message it went into, once it is used."""

    id = fields.IntField(primary_key=True)
    public_id = fields.CharField(max_length=32, unique=True)  # what the API calls upload_id: random, opaque
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="uploads", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=8)  # image | voice | video (the case message's msg_type)
    content_type = fields.CharField(max_length=40)
    size = fields.IntField()
    path = fields.CharField(max_length=500)
    created_at = fields.DatetimeField()
    message_id = fields.IntField(null=True)  # the case message it went into

    class Meta:
        table = "upload"


class SubscribeConsent(Model):
    """One-time subscribe consents left for a citizen and a template: one consent, one send.

    They come from wx.requestSubscribeMessage in the front end (POST /api/v1/subscriptions)."""

    id = fields.IntField(primary_key=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="subscribe_consents", on_delete=fields.CASCADE
    )
    template_id = fields.CharField(max_length=64)
    remaining = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "subscribe_consent"
        unique_together = (("citizen_id", "template_id"),)


class IdempotentRequest(Model):
    """The first answer to a POST sent with an Idempotency-Key.

    Written in the same transaction as what the request did: a retry with the same key gets this
    answer and does nothing again."""

    id = fields.IntField(primary_key=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="idempotent_requests", on_delete=fields.CASCADE
    )
    route = fields.CharField(max_length=80)  # e.g. "POST /cases", "POST /cases/{code}/messages"
    key = fields.CharField(max_length=100)
    status = fields.IntField()
    response: dict = fields.JSONField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "idempotent_request"
        unique_together = (("citizen_id", "route", "key"),)
