"""Codes made for contact points (official-account parametric codes, mini-program codes) and the
daily figures per contact point (scans, first-time followers, new cases)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.entities import ContactPoint


class QrKind(StrEnum):
    OA = "oa"  # official-account permanent code (QR_LIMIT_STR_SCENE), counts against the 100,000 limit
    OA_TEMP = "oa_temp"  # official-account temporary code (QR_STR_SCENE), expires
    WXA = "wxa"  # mini-program code (getwxacodeunlimit), never expires, unlimited


QR_KIND_ZH: dict[QrKind, str] = {
    QrKind.OA: "公众号永久码",
    QrKind.OA_TEMP: "公众号临时码",
    QrKind.WXA: "小程序码",
}


class QrCode(Model):
    """One code made through the WeChat API. Permanent codes are made once and kept forever:
    WeChat never deletes them and each one uses up one of the account's 100,000."""

    id = fields.IntField(primary_key=True)
    contact_point: fields.ForeignKeyRelation[ContactPoint] = fields.ForeignKeyField(
        "models.ContactPoint", related_name="qr_codes", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(QrKind, max_length=10)
    scene = fields.CharField(max_length=64)
    # "<kind>:<scene>" for codes that exist once (oa, wxa); NULL for temporary codes. The unique index
    # makes two concurrent `qr make` runs store one row (NULLs never collide).
    slot = fields.CharField(max_length=80, null=True, unique=True)
    ticket = fields.CharField(max_length=200, null=True)
    url = fields.CharField(max_length=300, null=True)
    page = fields.CharField(max_length=200, null=True)  # mini-program page the code opens
    file_path = fields.CharField(max_length=500, null=True)  # mini-program code PNG on disk
    expire_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "qr_code"
        indexes = (("contact_point_id", "kind"),)


class ContactPointDaily(Model):
    """Figures for one contact point on one local (Asia/Shanghai) day, incremented atomically.

    `point_key` is the contact point's key, or "" for what has no contact point (a follow without a
    code, a case written without scanning): a plain column rather than a nullable foreign key, so
    that the unique index also holds for that bucket (NULLs never collide in a unique index)."""

    id = fields.IntField(primary_key=True)
    point_key = fields.CharField(max_length=40)
    day = fields.DateField()
    scans = fields.IntField(default=0)
    new_followers = fields.IntField(default=0)
    new_cases = fields.IntField(default=0)

    class Meta:
        table = "contact_point_daily"
        unique_together = (("point_key", "day"),)
        indexes = (("day",),)
