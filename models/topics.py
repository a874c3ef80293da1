"""码上商量: consultation topics (议题) staff open, the opinions (意见) citizens and members post to them,
and the supports (附议) opinions get.

An opinion is public only when published: its text passed WeChat's content check (`pass`) or staff
approved it (`review` → 通过). An image of an opinion is shown only once WeChat's asynchronous media
check said `pass` (`OpinionImage.status`). The listing indexes are (topic, status, created_at) and
(topic, status, support_count): a page of a topic with 100,000 opinions reads a few index entries.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.entities import Citizen, Member


class TopicStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class OpinionStatus(StrEnum):
    REVIEW = "review"  # WeChat's check said review: waits for staff (通过 / 不通过)
    PUBLISHED = "published"
    REJECTED = "rejected"  # staff said 不通过


class ImageStatus(StrEnum):
    CHECKING = "checking"  # media_check_async asked; the verdict has not arrived
    PASS = "pass"
    REFUSED = "refused"  # risky or review: never shown


class ConsultationTopic(Model):
    """A consultation topic (议题) with its own mini-program code (scene tp=<key>)."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=32, unique=True)
    title = fields.CharField(max_length=100)
    body = fields.TextField()
    until = fields.DateField()  # the last day opinions are taken (Beijing time)
    points: list = fields.JSONField(default=list)  # contact point keys it is posted at (informational)
    status = fields.CharEnumField(TopicStatus, max_length=8, default=TopicStatus.OPEN)
    # Published opinions, kept with each publication (a COUNT over 100,000 rows is a scan on PostgreSQL).
    opinion_count = fields.IntField(default=0)
    summary = fields.TextField(null=True)  # the outcome, posted when it closes
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "consultation_topic"


class Opinion(Model):
    """One opinion on a topic, by a mini-program citizen or a member (from WeCom)."""

    id = fields.IntField(primary_key=True)
    topic: fields.ForeignKeyRelation[ConsultationTopic] = fields.ForeignKeyField(
        "models.ConsultationTopic", related_name="opinions", on_delete=fields.CASCADE
    )
    citizen: fields.ForeignKeyNullableRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="opinions", null=True, on_delete=fields.SET_NULL
    )
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="opinions", null=True, on_delete=fields.SET_NULL
    )
    text = fields.TextField()
    status = fields.CharEnumField(OpinionStatus, max_length=10)
    support_count = fields.IntField(default=0)
    point_key = fields.CharField(max_length=40, null=True)  # the contact point the author came from
    check: dict = fields.JSONField(default=dict)  # WeChat's verdict: suggest, label, trace_id
    case_id = fields.IntField(null=True)  # the case staff made of it (立案)
    created_at = fields.DatetimeField()
    published_at = fields.DatetimeField(null=True)

    class Meta:
        table = "opinion"
        indexes = (("topic_id", "status", "created_at", "id"), ("topic_id", "status", "support_count", "id"))


class OpinionImage(Model):
    """An image of an opinion, hidden until WeChat's media check (wxa_media_check event) says pass."""

    id = fields.IntField(primary_key=True)
    opinion: fields.ForeignKeyRelation[Opinion] = fields.ForeignKeyField(
        "models.Opinion", related_name="images", on_delete=fields.CASCADE
    )
    upload_id = fields.CharField(max_length=32)  # the Upload's public id
    path = fields.CharField(max_length=500)
    content_type = fields.CharField(max_length=40)
    fetch_token = fields.CharField(max_length=43, unique=True)  # WeChat fetches the image at /wxa/media/<token>
    trace_id = fields.CharField(max_length=64, null=True, unique=True)  # media_check_async's, matches the event
    status = fields.CharEnumField(ImageStatus, max_length=10, default=ImageStatus.CHECKING)
    created_at = fields.DatetimeField()

    class Meta:
        table = "opinion_image"


class OpinionSupport(Model):
    """附议: one per person and opinion."""

    id = fields.IntField(primary_key=True)
    opinion: fields.ForeignKeyRelation[Opinion] = fields.ForeignKeyField(
        "models.Opinion", related_name="supports", on_delete=fields.CASCADE
    )
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="supports", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "opinion_support"
        unique_together = (("opinion_id", "citizen_id"),)


async def published_page(topic_id: int, order: str, after: tuple[object, int] | None, limit: int) -> list[int]:
    """Ids of a page of a topic's published opinions, most supported (`order` "support") or newest first,
    after the (support_count or created_at, id) of the previous page's last one.

    Written out because the cursor is a row-value comparison, `(column, id) < (?, ?)`, which both
    PostgreSQL and SQLite turn into a range of the (topic_id, status, column, id) index: a page deep in
    a topic of 100,000 opinions reads its rows and no others (an OR of the two comparisons is not an
    index range, and the planner then walks all ties of the column)."""
    connection = Opinion._meta.db
    postgres = connection.capabilities.dialect == "postgres"
    column = "support_count" if order == "support" else "created_at"

    def mark(n: int) -> str:
        return f"${n}" if postgres else "?"

    where = f'"topic_id" = {mark(1)} AND "status" = {mark(2)}'
    params: list[object] = [topic_id, str(OpinionStatus.PUBLISHED)]
    if after is not None:
        where += f' AND ("{column}", "id") < ({mark(3)}, {mark(4)})'
        params += [after[0], after[1]]
    sql = f'SELECT "id" FROM "opinion" WHERE {where} ORDER BY "{column}" DESC, "id" DESC LIMIT {int(limit)}'
    _, rows = await connection.execute_query(sql, params)
    return [int(row["id"]) for row in rows]
