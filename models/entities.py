"""Tortoise models: the roster (contact points, members, staff, departments, categories),
citizens, cases with their messages and audit timeline, and the inbox of accepted callbacks."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class CaseState(StrEnum):
    RECEIVED = "received"  # 待分拣
    ASSIGNED = "assigned"  # 已交办
    ACCEPTED = "accepted"  # 办理中
    NEEDS_INFO = "needs_info"  # 待补充
    TRANSFERRED = "transferred"  # 转办
    REPLIED = "replied"  # 已答复
    RETURN_VISIT = "return_visit"  # 回访中
    CLOSED = "closed"  # 已办结
    MERGED = "merged"  # 并案
    REJECTED = "rejected"  # 不予受理
    REOPENED = "reopened"  # 重办


CASE_STATE_ZH: dict[CaseState, str] = {
    CaseState.RECEIVED: "待分拣",
    CaseState.ASSIGNED: "已交办",
    CaseState.ACCEPTED: "办理中",
    CaseState.NEEDS_INFO: "待补充",
    CaseState.TRANSFERRED: "已转办",
    CaseState.REPLIED: "已答复",
    CaseState.RETURN_VISIT: "回访中",
    CaseState.CLOSED: "已办结",
    CaseState.MERGED: "已并案",
    CaseState.REJECTED: "不予受理",
    CaseState.REOPENED: "重办中",
}

TERMINAL_STATES = frozenset({CaseState.CLOSED, CaseState.MERGED, CaseState.REJECTED})


class ContactPointKind(StrEnum):
    ENTERPRISE = "enterprise"
    HOSPITAL = "hospital"
    SCHOOL = "school"
    COMMUNITY = "community"
    STUDIO = "studio"
    ROOM = "room"
    TOPIC = "topic"
    OTHER = "other"


class ContactPoint(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(ContactPointKind, max_length=20, default=ContactPointKind.OTHER)
    district = fields.CharField(max_length=100, default="")
    member_keys: list[str] = fields.JSONField(default=list)
    auto_assign = fields.BooleanField(default=False)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Where the point is (WGS-84 degrees, from the roster), for the console's map; both or neither.
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)

    class Meta:
        table = "contact_point"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Member(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=100)
    sector = fields.CharField(max_length=100, default="")
    committee = fields.CharField(max_length=100, default="")
    wecom_userid = fields.CharField(max_length=64, null=True, unique=True)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "member"


class StaffRole(StrEnum):
    TRIAGE = "triage"  # works cases
    ADMIN = "admin"  # everything, roster and accounts
    VIEWER = "viewer"  # leaders: reads everything (console, 待办, 查, 统计), changes nothing


class Staff(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=100)
    wecom_userid = fields.CharField(max_length=64, unique=True)
    role = fields.CharEnumField(StaffRole, max_length=20, default=StaffRole.TRIAGE)
    active = fields.BooleanField(default=True)
    # The web console (`mashang staff set-password`): an argon2 hash, NULL until a password is set and
    # again after `mashang staff disable`, which also stamps the moment (the roster import leaves both).
    password_hash = fields.CharField(max_length=200, null=True)
    console_disabled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "staff"


class Department(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=200)

    class Meta:
        table = "department"


class Category(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=100)
    keywords: list[str] = fields.JSONField(default=list)

    class Meta:
        table = "category"


class Citizen(Model):
    """A WeChat user as seen by one of our apps (official account or mini-program)."""

    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    channel = fields.CharField(max_length=8, default="oa")
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # From the mini-program's getPhoneNumber, for the phone return visit; staff only ever see it masked.
    phone = fields.CharField(max_length=20, null=True)
    # Customer-service window: opened by the citizen's last message, at most 5 sends inside it.
    last_inbound_at = fields.DatetimeField(null=True)
    window_sends = fields.IntField(default=0)
    # After a subscribe, scan or menu click: at most 3 customer-service messages within 1 minute.
    event_window_at = fields.DatetimeField(null=True)
    event_window_sends = fields.IntField(default=0)
    # Set when a member without WeCom has bound this openid: the sender is then treated as the member.
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", null=True, related_name="bound_openids", on_delete=fields.SET_NULL
    )

    class Meta:
        table = "citizen"


class CaseSource:
    """Where a case came from: a citizen who scanned one of our codes, or a 12345 hotline work order
    imported from the hotline's export (`mashang import hotline`)."""

    QR = "qr"
    HOTLINE = "hotline"


class Case(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    # qr | hotline (CaseSource). Hotline cases are worked by the hotline: never queued for triage, no
    # deadlines, no messages; they count in the figures and hot spots beside the QR cases.
    source = fields.CharField(max_length=8, default=CaseSource.QR)
    # The district a hotline work order names; a QR case's district is its contact point's (NULL here).
    district = fields.CharField(max_length=100, null=True)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="cases", on_delete=fields.RESTRICT
    )
    contact_point: fields.ForeignKeyNullableRelation[ContactPoint] = fields.ForeignKeyField(
        "models.ContactPoint", null=True, related_name="cases", on_delete=fields.SET_NULL
    )
    state = fields.CharEnumField(CaseState, max_length=20, default=CaseState.RECEIVED, db_index=True)
    summary = fields.CharField(max_length=200, default="")
    category: fields.ForeignKeyNullableRelation[Category] = fields.ForeignKeyField(
        "models.Category", null=True, related_name="cases", on_delete=fields.SET_NULL
    )
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", null=True, related_name="cases", on_delete=fields.SET_NULL
    )
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", null=True, related_name="cases", on_delete=fields.SET_NULL
    )
    merged_into: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "models.Case", null=True, related_name="merged_cases", on_delete=fields.SET_NULL
    )
    follows: fields.ForeignKeyNullableRelation[Case] = fields.ForeignKeyField(
        "models.Case", null=True, related_name="followed_by", on_delete=fields.SET_NULL
    )
    urgent = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(db_index=True)
    updated_at = fields.DatetimeField()
    last_citizen_message_at = fields.DatetimeField()
    assign_due_at = fields.DatetimeField(null=True)
    reply_due_at = fields.DatetimeField(null=True)
    assigned_at = fields.DatetimeField(null=True)
    replied_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    last_reply = fields.TextField(null=True)
    satisfaction = fields.IntField(null=True)  # 1 满意, 2 基本满意, 3 不满意 (the latest return visit)
    satisfaction_comment = fields.TextField(null=True)
    reopen_count = fields.IntField(default=0)
    # For the committees' figures: first triage and first reply, against the deadlines of the time.
    triaged_at = fields.DatetimeField(null=True)
    triaged_on_time = fields.BooleanField(null=True)
    first_replied_at = fields.DatetimeField(null=True)
    replied_on_time = fields.BooleanField(null=True)
    visit_sent_at = fields.DatetimeField(null=True)
    visit_recorded_at = fields.DatetimeField(null=True)
    visit_channel = fields.CharField(max_length=10, null=True)  # citizen | phone
    # For the members' record (handlers/reports/members.py), since the latest assignment: when the member
    # holding the case accepted it (收), and when they first answered it (答; not staff answering for them).
    accepted_at = fields.DatetimeField(null=True)
    member_replied_at = fields.DatetimeField(null=True)

    class Meta:
        table = "case"
        indexes = (
            ("citizen_id", "contact_point_id", "last_citizen_message_at"),
            # The console's figures of one contact point, and of one member by month of assignment
            # (handlers/reports/): without them each read every case of the date range.
            ("contact_point_id", "created_at"),
            ("member_id", "assigned_at"),
            # Overdue now (the console's deadlines): the open cases past a deadline, without reading the
            # hotline's open work orders, which have none.
            ("state", "assign_due_at"),
            ("state", "reply_due_at"),
        )

    @property
    def state_zh(self) -> str:
        return CASE_STATE_ZH[CaseState(self.state)]


class CaseMessage(Model):
    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "models.Case", related_name="messages", on_delete=fields.CASCADE
    )
    direction = fields.CharField(max_length=3)  # in | out
    author = fields.CharField(max_length=80)  # citizen:<openid> | member:<key> | staff:<key> | system
    msg_type = fields.CharField(max_length=16, default="text")
    content = fields.TextField(default="")
    media_id = fields.CharField(max_length=128, null=True)
    media_path = fields.CharField(max_length=500, null=True)
    extra: dict = fields.JSONField(default=dict)
    inbound_key = fields.CharField(max_length=160, null=True, unique=True)  # InboundMessage.dedupe_key
    created_at = fields.DatetimeField()

    class Meta:
        table = "case_message"
        # A case's messages (the first one for the triage card, the count for a follow-up): without it
        # each such read scanned every message of every case.
        indexes = (("case_id",),)


class CaseEvent(Model):
    """The audit timeline: every state change, message and outbound send, with actor and time."""

    id = fields.IntField(primary_key=True)
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "models.Case", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=40)
    actor = fields.CharField(max_length=80)
    from_state = fields.CharField(max_length=20, null=True)
    to_state = fields.CharField(max_length=20, null=True)
    detail: dict = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "case_event"
        ordering = ("created_at", "id")
        indexes = (("case_id", "created_at"),)  # a case's timeline, newest or oldest first


class InboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class InboundMessage(Model):
    """Every accepted callback, stored before WeChat gets an answer. `dedupe_key` makes retries harmless."""

    id = fields.IntField(primary_key=True)
    dedupe_key = fields.CharField(max_length=160, unique=True)
    channel = fields.CharField(max_length=16)
    sender = fields.CharField(max_length=64)
    payload: dict = fields.JSONField()
    received_at = fields.DatetimeField()
    status = fields.CharEnumField(InboxStatus, max_length=10, default=InboxStatus.PENDING)
    reply_text = fields.TextField(null=True)
    reply_channel = fields.CharField(max_length=10, null=True)  # passive | outbox | none
    processed_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    error = fields.TextField(null=True)

    class Meta:
        table = "inbound_message"
        # Pending rows for recovery, handled rows for the retention sweep. Every index costs each of
        # the thousands of inserts and updates a second under a burst: no others.
        indexes = (("status", "processed_at"),)


class TrackingSequence(Model):
    """Per-day counter behind tracking codes; incremented atomically in the database."""

    day = fields.CharField(max_length=8, primary_key=True)
    last_value = fields.IntField(default=0)

    class Meta:
        table = "tracking_sequence"


class MemberBindCode(Model):
    """A one-time code that binds a member's official-account openid (members without WeCom)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=12, unique=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="bind_codes", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_by = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "member_bind_code"


class ScanBinding(Model):
    """The contact point a citizen scanned last, and until when it binds their messages to it.

    The database keeps it (a Redis flush or restart must not lose where citizens are); Redis only caches it."""

    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    contact_point: fields.ForeignKeyRelation[ContactPoint] = fields.ForeignKeyField(
        "models.ContactPoint", related_name="scan_bindings", on_delete=fields.CASCADE
    )
    scanned_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "scan_binding"


class FollowUpForward(Model):
    """How far a case's follow-ups have gone to the member holding it (digests: handlers.cases.follow_ups)."""

    id = fields.IntField(primary_key=True)
    case: fields.OneToOneRelation[Case] = fields.OneToOneField(
        "models.Case", related_name="follow_up_forward", on_delete=fields.CASCADE
    )
    through_message_id = fields.IntField(default=0)  # the case's last message a digest has carried
    sent_at = fields.DatetimeField(null=True)  # when the last digest was queued

    class Meta:
        table = "follow_up_forward"
