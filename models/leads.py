"""Leads and topics (线索、专题): staff mark cases, QR and hotline alike, as leads of a topic, from which a
draft 社情民意信息 (public-opinion report) is written (handlers/reports/leads.py, handlers/reports/draft.py).

A topic is created the first time staff name it; a case may be a lead of several topics, once each.
Marking and removing are recorded on the case's timeline (`lead.marked`, `lead.removed`).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.entities import Case

TOPIC_NAME_MAX = 40  # characters: a report's title, typed in one chat line


class LeadTopic(Model):
    """A topic (专题): a name staff gave, and who created it when."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=TOPIC_NAME_MAX, unique=True)
    created_by = fields.CharField(max_length=80)  # staff:<key>
    created_at = fields.DatetimeField()

    class Meta:
        table = "lead_topic"


class LeadTopicCase(Model):
    """A case marked as a lead of a topic."""

    id = fields.IntField(primary_key=True)
    topic: fields.ForeignKeyRelation[LeadTopic] = fields.ForeignKeyField(
        "models.LeadTopic", related_name="leads", on_delete=fields.CASCADE
    )
    case: fields.ForeignKeyRelation[Case] = fields.ForeignKeyField(
        "models.Case", related_name="lead_topics", on_delete=fields.CASCADE
    )
    added_by = fields.CharField(max_length=80)
    added_at = fields.DatetimeField()

    class Meta:
        table = "lead_topic_case"
        unique_together = (("topic", "case"),)
