"""The terms of a case's text (handlers/reports/similarity.py), stored so that similar cases are found
without segmenting every text again.

Segmenting is the costly step (about 0.1 ms a text with jieba: 10 to 15 s for 100,000 cases), and a text
never changes once the case exists (a QR case's first message, a hotline work order's text); the TF-IDF
weights do change with every new case, so the weights are computed when asked and only the terms are kept.
`version` names the rules that made the terms (stop words, synonyms, jieba's release): rows of another
version are made again.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.entities import Case


class CaseTerms(Model):
    """The segmented terms of a case text, space-separated, and the version of the rules that made them."""

    id = fields.IntField(primary_key=True)
    case: fields.OneToOneRelation[Case] = fields.OneToOneField(
        "models.Case", related_name="terms", on_delete=fields.CASCADE
    )
    version = fields.CharField(max_length=16)
    terms = fields.TextField()

    class Meta:
        table = "case_terms"
