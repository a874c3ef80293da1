"""12345 hotline work orders into cases: each row of an export becomes a case with source `hotline`.

- A work order keeps its own number (`hotline_order.external_id`, unique) and gets a tracking code of
  ours for the Beijing day it was received; the case's `created_at` is when the hotline received it,
  so it counts in that day's, week's and month's figures and in the hot spots.
- Hotline cases are worked by the hotline: they are not put in the triage queue, get no deadlines and
  no messages (no jobs are written at all). An open work order is a case 已转办 (transferred, to the
  hotline), a closed one 已办结; the hotline's status changes are recorded on the timeline as
  `hotline.updated`, not through the state machine, whose 办结 needs our own return visit.
- Importing the same file again changes nothing. A later export updates what changed: the status (and
  with it the state, unless staff have merged or rejected the case meanwhile), the category, the
  district, the phone number and the address; the complaint's text is kept as first imported.
- Bad rows are refused one by one, with the line, the column and the value; the other rows go in.
  Two rows with one number are one row if they are identical, else the later one is refused.
- Fast: rows go in chunks of `CHUNK`, each chunk one transaction of a handful of multi-row statements
  (models/bulk.py) run as a plan (models/plans.py: on SQLite the whole chunk in one call of the
  database thread). A chunk first reads which of its numbers exist already; on PostgreSQL it takes an
  advisory lock first, so two imports at once never both insert one number (SQLite's BEGIN IMMEDIATE
  does the same there).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.hotline.files import FileUnreadable, Table
from handlers.hotline.mapping import Mapping, MappingError
from handlers.texts import hotline as texts
from models.bulk import Statement, in_list, padded, placeholders
from models.entities import Case, CaseEvent, CaseMessage, CaseSource, CaseState, Category, Citizen, TrackingSequence
from models.hotline import HOTLINE_CHANNEL, HOTLINE_OPENID, HotlineOrder
from models.plans import Plan, insert_plan, run_in_transaction
from models.timeutil import now
from models.tracking import LOCAL_TZ, format_code

CHUNK = 1024  # rows per transaction: one multi-row INSERT per table on SQLite (at most 2,048 rows each)
ACTOR = "hotline"  # on the timeline: 12345 热线
OTHER_KEYS = ("other", "其他")  # a roster category with this key or name takes the unmapped values
STATE_OF = {"open": CaseState.TRANSFERRED, "closed": CaseState.CLOSED}
HOTLINE_STATES = frozenset(STATE_OF.values())  # states the hotline's status may move a case between
LIMITS = {"external_id": 64, "district": 100, "phone": 32, "address": 500}
FUTURE_SLACK = timedelta(minutes=10)  # a received time later than now by more than this is refused
LOCK_ID = int.from_bytes(b"hotline", "big")  # pg_advisory_xact_lock key of an import's chunk


@dataclass(frozen=True)
class Refusal:
    line: int
    column: str
    value: str
    reason: str

    def text(self) -> str:
        return texts.refused(self.line, self.column, self.value, self.reason)


@dataclass(frozen=True)
class WorkOrder:
    line: int
    external_id: str
    received_at: datetime  # UTC
    text: str
    district: str
    category_value: str  # as the file wrote it
    category_id: int | None
    status_value: str  # as the file wrote it ("" without a status column)
    state: CaseState
    phone: str | None
    address: str | None

    def fingerprint(self) -> tuple[Any, ...]:
        """Everything but the line: two rows with the same fingerprint are the same work order."""
        return (
            self.external_id,
            self.received_at,
            self.text,
            self.district,
            self.category_value,
            self.status_value,
            self.phone,
            self.address,
        )


@dataclass
class ImportReport:
    rows: int = 0
    new: int = 0
    updated: int = 0
    status_changed: int = 0
    unchanged: int = 0
    duplicates: int = 0  # rows identical to an earlier row of the file (counted as unchanged)
    refusals: list[Refusal] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)  # category values not in the mapping
    other_category: str = texts.OTHER_CATEGORY_ZH

    @property
    def refused(self) -> int:
        return len(self.refusals)

    @property
    def exit_code(self) -> int:
        """0: every row went in (or was there already); 2: some rows were refused."""
        return 2 if self.refusals else 0


@dataclass(frozen=True)
class Categories:
    by_key: dict[str, int]
    other_id: int | None
    other_name: str


async def roster_categories(mapping: Mapping) -> Categories:
    """The roster's categories the mapping points to; MappingError names keys the roster lacks."""
    rows = await Category.all().order_by("id").values_list("id", "key", "name")
    by_key = {str(key): int(category_id) for category_id, key, _ in rows}
    unknown = sorted({key for key in mapping.categories.values() if key not in by_key})
    if unknown:
        raise MappingError(texts.unknown_categories(unknown, by_key))
    other = next(((int(i), str(name)) for i, key, name in rows if key in OTHER_KEYS or name in OTHER_KEYS), None)
    return Categories(by_key, other[0] if other else None, other[1] if other else texts.OTHER_CATEGORY_ZH)


def column_indexes(mapping: Mapping, headers: list[str]) -> dict[str, int]:
    """Our field -> the index of its column; FileUnreadable when the file lacks a mapped column."""
    indexes: dict[str, int] = {}
    missing: list[tuple[str, str]] = []
    for name, header in mapping.columns.items():
        found = [index for index, value in enumerate(headers) if value == header]
        if not found:
            missing.append((name, header))
        elif len(found) > 1:
            raise FileUnreadable(texts.ambiguous_column(header))
        else:
            indexes[name] = found[0]
    if missing:
        raise FileUnreadable(texts.missing_columns(missing, headers))
    return indexes


def cell_text(value: Any) -> str:
    """A cell as text: XLSX numbers without a spurious `.0` (a number 13812345678 is a phone number)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value).strip()


class Converter:
    """The cells of one row to a WorkOrder, or the Refusal of its first bad value."""

    def __init__(self, mapping: Mapping, headers: list[str], categories: Categories, moment: datetime) -> None:
        self.mapping = mapping
        self.index = column_indexes(mapping, headers)
        self.categories = categories
        self.latest = moment + FUTURE_SLACK

    def _cell(self, cells: list[Any], name: str) -> Any:
        index = self.index.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    def convert(self, line: int, cells: list[Any]) -> WorkOrder | Refusal:
        columns = self.mapping.columns
        values = {name: cell_text(self._cell(cells, name)) for name in self.index}
        for name in ("external_id", "received_at", "text"):
            if not values[name]:
                return Refusal(line, columns[name], "", texts.EMPTY)
        for name, limit in LIMITS.items():
            if len(values.get(name, "")) > limit:
                return Refusal(line, columns[name], values[name], texts.too_long(limit))
        received = self._received_at(self._cell(cells, "received_at"), values["received_at"])
        if received is None:
            return Refusal(
                line, columns["received_at"], values["received_at"], texts.not_a_time(self.mapping.time_format)
            )
        if received > self.latest:
            shown = self.latest.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
            return Refusal(line, columns["received_at"], values["received_at"], texts.in_the_future(shown))
        status_value = values.get("status", "")
        state = CaseState.TRANSFERRED
        if "status" in columns:
            target = self.mapping.status.get(status_value)
            if target is None:
                return Refusal(line, columns["status"], status_value, texts.unknown_status(self.mapping.status))
            state = STATE_OF[target]
        category_value = values["category"]
        key = self.mapping.categories.get(category_value)
        category_id = self.categories.by_key[key] if key is not None else self.categories.other_id
        return WorkOrder(
            line=line,
            external_id=values["external_id"],
            received_at=received,
            text=values["text"],
            district=values["district"],
            category_value=category_value,
            category_id=category_id,
            status_value=status_value,
            state=state,
            phone=values.get("phone") or None,
            address=values.get("address") or None,
        )

    def _received_at(self, raw: Any, text: str) -> datetime | None:
        """Beijing time, as UTC. An XLSX date cell arrives as a datetime already."""
        if isinstance(raw, datetime):
            moment = raw
        else:
            try:
                moment = datetime.strptime(text, self.mapping.time_format)
            except ValueError:
                return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LOCAL_TZ)
        return moment.astimezone(UTC)


async def hotline_citizen_id() -> int:
    citizen, _ = await Citizen.get_or_create(openid=HOTLINE_OPENID, defaults={"channel": HOTLINE_CHANNEL})
    return int(citizen.id)


async def import_orders(
    table: Table,
    mapping: Mapping,
    prefix: str,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> ImportReport:
    """Import every row of `table`. MappingError when the mapping names categories the roster lacks,
    FileUnreadable when the file lacks a mapped column or breaks off (chunks before stay imported)."""
    moment = now()
    categories = await roster_categories(mapping)
    converter = Converter(mapping, table.headers, categories, moment)
    report = ImportReport(other_category=categories.other_name)
    citizen_id = 0 if dry_run else await hotline_citizen_id()
    seen: dict[str, tuple[int, int]] = {}  # number -> (line, hash of the fingerprint) of its first row
    pending: list[WorkOrder] = []

    async def flush() -> None:
        orders = list(pending)
        pending.clear()
        counts = await run_in_transaction(
            lambda dialect, _in_loop: chunk_plan(dialect, orders, citizen_id, prefix, moment, dry_run)
        )
        report.new += counts.new
        report.updated += counts.updated
        report.status_changed += counts.status_changed
        report.unchanged += counts.unchanged
        if progress is not None:
            progress(report.rows)

    for line, cells in table.rows:
        report.rows += 1
        order = converter.convert(line, cells)
        if isinstance(order, Refusal):
            report.refusals.append(order)
            continue
        fingerprint = hash(order.fingerprint())
        earlier = seen.get(order.external_id)
        if earlier is not None:
            if earlier[1] == fingerprint:
                report.duplicates += 1
                report.unchanged += 1
            else:
                column = mapping.columns["external_id"]
                report.refusals.append(Refusal(line, column, order.external_id, texts.duplicate_differs(earlier[0])))
            continue
        seen[order.external_id] = (line, fingerprint)
        if order.category_value not in mapping.categories:
            report.unmapped[order.category_value] += 1
        pending.append(order)
        if len(pending) >= chunk:
            await flush()
    if pending:
        await flush()
    if progress is not None:
        progress(report.rows)
    return report


# ---- one chunk: a plan (no I/O; on SQLite it runs in the database thread) ------------------------------


@dataclass(frozen=True)
class ChunkCounts:
    new: int
    updated: int
    status_changed: int
    unchanged: int


@dataclass(frozen=True)
class Change:
    order: WorkOrder
    case_id: int
    from_state: CaseState
    to_state: CaseState
    case_changed: bool  # state, category or district
    order_changed: bool  # the file's status or category
    contact_changed: bool  # phone or address
    detail: dict[str, Any]


def _db_time(dialect: str, moment: datetime) -> Any:
    """A datetime as Tortoise stores it: SQLite compares the text, which is always in UTC."""
    moment = moment.astimezone(UTC)
    return moment.isoformat(" ") if dialect == "sqlite" else moment


def _any(dialect: str, column: str, values: list[Any], start: int, sql_type: str) -> tuple[str, list[Any]]:
    """`column IN (…)` padded to a power of two on SQLite; `column = ANY($n::type[])` on PostgreSQL."""
    if dialect == "postgres":
        return f"{column} = ANY(${start}::{sql_type}[])", [values]
    values = padded(values)
    return f"{column} IN {in_list(dialect, values, start)}", values


def existing_statement(dialect: str, numbers: list[str]) -> Statement:
    where, params = _any(dialect, 'o."external_id"', numbers, 1, "varchar")
    sql = (
        'SELECT o."external_id", o."case_id", o."status", o."category", o."phone", o."address", '
        'c."state", c."category_id", c."district" '
        f'FROM "hotline_order" o JOIN "case" c ON c."id" = o."case_id" WHERE {where}'
    )
    return sql, params


def compare(row: dict[str, Any], order: WorkOrder) -> Change | None:
    """What a re-import changes about an imported work order, or None."""
    from_state = CaseState(row["state"])
    to_state = order.state if from_state in HOTLINE_STATES else from_state  # merged or rejected by staff: kept
    detail: dict[str, Any] = {}
    if row["status"] != order.status_value:
        detail["status"] = order.status_value
    if row["category"] != order.category_value or row["category_id"] != order.category_id:
        detail["category"] = order.category_value
    if (row["district"] or "") != order.district:
        detail["district"] = order.district
    contact_changed = row["phone"] != order.phone or row["address"] != order.address
    if contact_changed:
        detail["contact"] = True  # what changed, not the number itself: the timeline is shown to staff
    case_changed = to_state != from_state or "district" in detail or row["category_id"] != order.category_id
    order_changed = "status" in detail or row["category"] != order.category_value
    if not (case_changed or order_changed or contact_changed):
        return None
    return Change(
        order, int(row["case_id"]), from_state, to_state, case_changed, order_changed, contact_changed, detail
    )


def chunk_plan(
    dialect: str, orders: list[WorkOrder], citizen_id: int, prefix: str, moment: datetime, dry_run: bool
) -> Plan[ChunkCounts]:
    if dialect == "postgres":
        yield "SELECT pg_advisory_xact_lock($1)", [LOCK_ID]
    existing = {row["external_id"]: row for row in (yield existing_statement(dialect, [o.external_id for o in orders]))}
    new: list[WorkOrder] = []
    changes: list[Change] = []
    for order in orders:
        row = existing.get(order.external_id)
        if row is None:
            new.append(order)
        elif (change := compare(row, order)) is not None:
            changes.append(change)
    counts = ChunkCounts(
        new=len(new),
        updated=len(changes),
        status_changed=sum(change.to_state != change.from_state for change in changes),
        unchanged=len(orders) - len(new) - len(changes),
    )
    if dry_run:
        return counts
    if new:
        yield from _insert_plan(dialect, new, citizen_id, prefix, moment)
    if changes:
        yield from _update_plan(dialect, changes, moment)
    return counts


def _codes_plan(dialect: str, orders: list[WorkOrder], prefix: str) -> Plan[list[str]]:
    """A tracking code for each order, for the Beijing day it was received: one upsert of every day's
    counter (models/tracking.py reserves one day's range the same way)."""
    days = [order.received_at.astimezone(LOCAL_TZ).strftime("%y%m%d") for order in orders]
    needed = Counter(days)
    table = TrackingSequence._meta.db_table
    rows = yield from insert_plan(
        dialect,
        TrackingSequence,
        [{"day": day, "last_value": count} for day, count in sorted(needed.items())],
        returning=("day", "last_value"),
        on_conflict=f'ON CONFLICT ("day") DO UPDATE SET "last_value" = "{table}"."last_value" + excluded."last_value"',
    )
    following = {row["day"]: int(row["last_value"]) - needed[row["day"]] + 1 for row in rows}
    codes = []
    for day in days:
        codes.append(format_code(prefix, day, following[day]))
        following[day] += 1
    return codes


def _insert_plan(dialect: str, orders: list[WorkOrder], citizen_id: int, prefix: str, moment: datetime) -> Plan[None]:
    codes = yield from _codes_plan(dialect, orders, prefix)
    created = yield from insert_plan(
        dialect,
        Case,
        [
            {
                "code": code,
                "source": CaseSource.HOTLINE,
                "citizen_id": citizen_id,
                "category_id": order.category_id,
                "district": order.district,
                "state": order.state,
                "summary": " ".join(order.text.split())[:200],
                "created_at": order.received_at,
                "updated_at": moment,
                "last_citizen_message_at": order.received_at,
                "closed_at": moment if order.state == CaseState.CLOSED else None,
            }
            for code, order in zip(codes, orders, strict=True)
        ],
        returning=("id", "code"),
    )
    case_of = {row["code"]: int(row["id"]) for row in created}
    ids = [case_of[code] for code in codes]
    yield from insert_plan(
        dialect,
        HotlineOrder,
        [
            {
                "external_id": order.external_id,
                "case_id": case_id,
                "status": order.status_value,
                "category": order.category_value,
                "phone": order.phone,
                "address": order.address,
                "imported_at": moment,
                "updated_at": moment,
            }
            for case_id, order in zip(ids, orders, strict=True)
        ],
    )
    yield from insert_plan(
        dialect,
        CaseMessage,
        [
            {
                "case_id": case_id,
                "direction": "in",
                "author": ACTOR,
                "msg_type": "text",
                "content": order.text,
                "created_at": order.received_at,
            }
            for case_id, order in zip(ids, orders, strict=True)
        ],
    )
    yield from insert_plan(
        dialect,
        CaseEvent,
        [
            {
                "case_id": case_id,
                "kind": "created",
                "actor": ACTOR,
                "to_state": order.state,
                "detail": {"source": CaseSource.HOTLINE, "external_id": order.external_id},
                "created_at": order.received_at,
            }
            for case_id, order in zip(ids, orders, strict=True)
        ],
    )


def _groups(changes: Iterable[Change], key: Callable[[Change], Any]) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = {}
    for change in changes:
        groups.setdefault(key(change), []).append(change.case_id)
    return groups


def _update_plan(dialect: str, changes: list[Change], moment: datetime) -> Plan[None]:
    at = _db_time(dialect, moment)
    cases = _groups(
        (c for c in changes if c.case_changed), lambda c: (c.to_state, c.order.category_id, c.order.district)
    )
    for (state, category_id, district), ids in cases.items():
        if state == CaseState.CLOSED:
            closed = f'COALESCE("closed_at", {placeholders(dialect, 5, 1)})'
            params: list[Any] = [str(state), category_id, district, at, at]
        else:  # back to open: not closed any more; merged or rejected by staff: as it was
            closed = "NULL" if state == CaseState.TRANSFERRED else '"closed_at"'
            params = [str(state), category_id, district, at]
        where, values = _any(dialect, '"id"', ids, len(params) + 1, "int")
        set_sql = placeholders(dialect, 1, 4).split(", ")
        yield (
            f'UPDATE "case" SET "state" = {set_sql[0]}, "category_id" = {set_sql[1]}, "district" = {set_sql[2]}, '
            f'"updated_at" = {set_sql[3]}, "closed_at" = {closed} WHERE {where}',
            [*params, *values],
        )
    orders = _groups((c for c in changes if c.order_changed), lambda c: (c.order.status_value, c.order.category_value))
    for (status, category), ids in orders.items():
        where, values = _any(dialect, '"case_id"', ids, 4, "int")
        marks = placeholders(dialect, 1, 3).split(", ")
        yield (
            f'UPDATE "hotline_order" SET "status" = {marks[0]}, "category" = {marks[1]}, "updated_at" = {marks[2]} '
            f"WHERE {where}",
            [status, category, at, *values],
        )
    for change in changes:  # a caller's number or address: seldom changes, one statement each
        if change.contact_changed:
            marks = placeholders(dialect, 1, 4).split(", ")
            yield (
                f'UPDATE "hotline_order" SET "phone" = {marks[0]}, "address" = {marks[1]}, "updated_at" = {marks[2]} '
                f'WHERE "case_id" = {marks[3]}',
                [change.order.phone, change.order.address, at, change.case_id],
            )
    yield from insert_plan(
        dialect,
        CaseEvent,
        [
            {
                "case_id": change.case_id,
                "kind": "hotline.updated",
                "actor": ACTOR,
                "from_state": change.from_state,
                "to_state": change.to_state,
                "detail": change.detail,
                "created_at": moment,
            }
            for change in changes
        ],
    )
