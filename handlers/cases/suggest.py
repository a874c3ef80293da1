"""Suggestions for triage: a category from the roster's keyword rules, a member by open workload."""

from __future__ import annotations

from models.entities import Case, CaseMessage, Category, ContactPoint, Member
from models.state import HELD_BY_MEMBER


async def suggest_category(case: Case) -> Category | None:
    contents = await CaseMessage.filter(case=case, direction="in").values_list("content", flat=True)
    blob = " ".join([case.summary, *(str(text) for text in contents if text)])
    best: tuple[int, Category] | None = None
    for category in await Category.all().order_by("id"):
        hits = sum(blob.count(keyword) for keyword in category.keywords)
        if hits and (best is None or hits > best[0]):
            best = (hits, category)
    return best[1] if best else None


async def open_workload(member: Member) -> int:
    return await Case.filter(member=member, state__in=list(HELD_BY_MEMBER)).count()


async def suggest_member(point: ContactPoint | None) -> Member | None:
    """The contact point's default member with the fewest open cases (roster order breaks ties)."""
    if point is None or not point.member_keys:
        return None
    members = {m.key: m for m in await Member.filter(key__in=point.member_keys, active=True)}
    ranked: list[tuple[int, int, Member]] = []
    for order, key in enumerate(point.member_keys):
        if key in members:
            ranked.append((await open_workload(members[key]), order, members[key]))
    return min(ranked, key=lambda item: (item[0], item[1]))[2] if ranked else None
