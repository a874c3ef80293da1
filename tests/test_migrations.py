"""Schema migrations (models/migrate.py, models/migrations/): a database keeps every row through an
upgrade, a database from before migrations is stamped rather than rebuilt, each migration runs once
even when two processes start together, and `mashang db` says so in Chinese."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from bot.config import build_config
from models import migrate
from models.case_page import CaseLink
from models.db import close_db, init_db
from models.delivery import TemplateSend
from models.entities import (
    Case,
    CaseEvent,
    CaseMessage,
    Category,
    Citizen,
    ContactPoint,
    ContactPointKind,
    Department,
    FollowUpForward,
    InboundMessage,
    Member,
    MemberBindCode,
    ScanBinding,
    Staff,
    TrackingSequence,
)
from models.hotline import HotlineOrder
from models.jobs import Job
from models.leads import LeadTopic, LeadTopicCase
from models.media import MediaLink
from models.miniprogram import IdempotentRequest, SubscribeConsent, Upload
from models.qr import ContactPointDaily, QrCode, QrKind
from models.similar import CaseTerms
from models.stats import StaffToken
from models.timeutil import now
from models.topics import ConsultationTopic, Opinion, OpinionImage, OpinionSupport
from tests.conftest import reset_postgres

ROOT = Path(__file__).resolve().parent.parent
HEAD = [m.name for m in migrate.discover()]  # what this release has
# Indexes a migration makes that the models cannot describe (0030: pg_trgm's GIN index for the
# console's text search, PostgreSQL only): left out of the comparison with generate_schemas.
MIGRATION_ONLY_INDEXES = {"case_summary_trgm"}

ADD_COLUMNS = """
async def upgrade(conn, dialect):
    # two statements in one script: on SQLite they must stay in the one transaction
    await conn.execute_script(
        'ALTER TABLE "case" ADD COLUMN "priority" INT NOT NULL DEFAULT 3;\\n'
        'ALTER TABLE "citizen" ADD COLUMN "note" VARCHAR(40) NOT NULL DEFAULT \\'无;备注\\';'
    )
"""


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    yield database_url
    await close_db()


def write_migration(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def dialect() -> str:
    return str(Tortoise.get_connection("default").capabilities.dialect)


async def query(sql: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
    return await Tortoise.get_connection("default").execute_query_dict(sql, values)


async def table_names() -> list[str]:
    if dialect() == "sqlite":
        rows = await query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = await query(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return sorted(row["name"] for row in rows if row["name"] != migrate.TABLE)


async def schema() -> dict[str, Any]:
    """Tables, columns (type, nullable), indexes, constraints and comments; not column order or defaults."""
    tables: dict[str, Any] = {}
    if dialect() == "sqlite":
        for table in await table_names():
            info = await query(f'PRAGMA table_info("{table}")')
            # SQLite ignores a VARCHAR's length (a migration need not rebuild a table to change it): the
            # type without it; PostgreSQL's columns below keep their lengths.
            columns = {r["name"]: (re.sub(r"\(\d+\)$", "", r["type"]), r["notnull"], r["pk"]) for r in info}
            indexes = set()
            for index in await query(f'PRAGMA index_list("{table}")'):
                names = tuple(r["name"] for r in await query(f'PRAGMA index_info("{index["name"]}")'))
                named = index["name"] if index["origin"] == "c" else ""  # sqlite_autoindex_… names are positional
                indexes.add((named, names, index["unique"]))
            references = await query(f'PRAGMA foreign_key_list("{table}")')
            keys = {(r["from"], r["table"], r["to"], r["on_delete"]) for r in references}
            tables[table] = (columns, indexes, keys)
        return tables
    for row in await query(
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable "
        "FROM information_schema.columns WHERE table_schema = current_schema()"
    ):
        tables.setdefault(row["table_name"], {})[row["column_name"]] = (
            row["data_type"],
            row["character_maximum_length"],
            row["is_nullable"],
        )
    tables.pop(migrate.TABLE, None)
    indexes = await query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
    constraints = await query(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
        "WHERE connamespace = current_schema()::regnamespace"
    )
    comments = await query(
        "SELECT c.relname AS t, a.attnum AS n, col_description(c.oid, a.attnum) AS column_comment, "
        "obj_description(c.oid, 'pg_class') AS table_comment FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum >= 0 "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
    )
    return {
        "columns": tables,
        "indexes": {
            (r["indexname"], r["indexdef"])
            for r in indexes
            if migrate.TABLE not in r["indexname"] and r["indexname"] not in MIGRATION_ONLY_INDEXES
        },
        "constraints": {(r["conname"], r["definition"]) for r in constraints if migrate.TABLE not in r["conname"]},
        "comments": {
            (r["t"], r["column_comment"], r["table_comment"])
            for r in comments
            if r["t"] != migrate.TABLE and (r["column_comment"] or r["table_comment"])
        },
    }


async def every_row() -> dict[str, list[dict[str, Any]]]:
    return {table: await query(f'SELECT * FROM "{table}" ORDER BY 1') for table in await table_names()}


async def recorded() -> list[tuple[int, str]]:
    rows = await query(f'SELECT "version", "name" FROM "{migrate.TABLE}" ORDER BY "version"')
    return [(int(r["version"]), r["name"]) for r in rows]


async def fill_with_rows() -> None:
    """A little of everything a running committee has, through the ORM."""
    at = now()
    member = await Member.create(key="m-zhao", name="赵委员", sector="医卫界", wecom_userid="zhao")
    await MemberBindCode.create(code="K7Q2M9", member=member, created_at=at, expires_at=at)
    staff = await Staff.create(
        key="s-li", name="李干事", wecom_userid="li", password_hash="$argon2id$v=19$m=65536,t=3,p=4$x"
    )
    await StaffToken.create(staff=staff, token_hash="cd" * 32, created_at=at)
    department = await Department.create(key="d-health", name="卫健委")
    category = await Category.create(key="c-health", name="医疗卫生", keywords=["医院", "挂号"])
    point = await ContactPoint.create(
        key="hz-hospital-1",
        name="湖州市第一人民医院",
        kind=ContactPointKind.HOSPITAL,
        member_keys=["m-zhao"],
        latitude=30.87,
        longitude=120.09,
    )
    for index in range(3):
        citizen = await Citizen.create(openid=f"o-citizen-{index}", last_inbound_at=at, window_sends=index)
        case = await Case.create(
            code=f"MS26120200{index}",
            citizen=citizen,
            contact_point=point,
            member=member,
            department=department,
            category=category,
            summary="挂号排队太久",
            urgent=index == 0,
            created_at=at,
            updated_at=at,
            last_citizen_message_at=at,
        )
        await CaseMessage.create(
            case=case, direction="in", author=f"citizen:{citizen.openid}", content="挂号排队太久", created_at=at
        )
        await CaseEvent.create(case=case, kind="created", actor="system", to_state="received", created_at=at)
        await Job.create(
            kind="send_citizen", key=f"reply-{index}", payload={"text": "已收到"}, case=case, run_at=at, created_at=at
        )
    await InboundMessage.create(dedupe_key="oa:1", channel="oa", sender="o-citizen-0", payload={"x": 1}, received_at=at)
    await TrackingSequence.create(day="261202", last_value=3)
    await QrCode.create(
        contact_point=point, kind=QrKind.OA, scene="cp:hz-hospital-1", slot="oa:hz-hospital-1", created_at=at
    )
    await ContactPointDaily.create(point_key="hz-hospital-1", day=date(2026, 12, 2), scans=5, new_cases=3)
    first = await Case.get(code__endswith="0")
    await CaseLink.create(token_hash="ab" * 32, case=first, citizen_id=first.citizen_id, created_at=at, expires_at=at)
    await ScanBinding.create(openid="o-citizen-0", contact_point=point, scanned_at=at, expires_at=at)
    await FollowUpForward.create(case=first, through_message_id=1)
    mini = await Citizen.create(openid="o-mini-0", channel="wxa", unionid="u-0", phone="13800000000")
    await Upload.create(
        public_id="up-0", citizen=mini, kind="image", content_type="image/png", size=3, path="x.png", created_at=at
    )
    await SubscribeConsent.create(citizen=mini, template_id="tpl-reply", remaining=1, updated_at=at)
    await IdempotentRequest.create(citizen=mini, route="POST /cases", key="k-0", status=201, response={}, created_at=at)
    await HotlineOrder.create(external_id="GD2026120001", case=first, status="已办结", imported_at=at, updated_at=at)
    await CaseTerms.create(case=first, version="0123456789ab", terms="挂号 排队")
    await TemplateSend.create(msgid=2_000_000_001, case=first, purpose="reply", created_at=at)
    voice = await CaseMessage.create(
        case=first, direction="in", author="citizen:o-citizen-0", msg_type="voice", created_at=at
    )
    await MediaLink.create(token_hash="cd" * 32, message=voice, created_at=at, expires_at=at)
    topic = await ConsultationTopic.create(
        key="t-park", title="停车", body="怎么停车", until=date(2026, 12, 31), created_at=at
    )
    opinion = await Opinion.create(topic=topic, citizen=mini, text="多建车位", status="published", created_at=at)
    await OpinionImage.create(
        opinion=opinion, upload_id="up-1", path="y.png", content_type="image/png", fetch_token="t" * 43, created_at=at
    )
    await OpinionSupport.create(opinion=opinion, citizen=mini, created_at=at)
    lead_topic = await LeadTopic.create(name="挂号难", created_by="staff:s-li", created_at=at)
    await LeadTopicCase.create(topic=lead_topic, case=first, added_by="staff:s-li", added_at=at)


async def column_default(table: str, column: str) -> str | None:
    if dialect() == "sqlite":
        rows = await query(f'PRAGMA table_info("{table}")')
        return next(str(r["dflt_value"]) for r in rows if r["name"] == column)
    rows = await query(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
        [table, column],
    )
    return str(rows[0]["column_default"]) if rows else None


# ---- the baseline -------------------------------------------------------------------------------


async def test_the_migrations_make_the_schema_the_models_describe(empty_database: str, tmp_path: Path) -> None:
    """The baseline is exactly what generate_schemas made; every later migration keeps the models and
    the migrations describing the same schema (a model changed without a migration fails here)."""
    url = empty_database
    await init_db(url)
    migrated = await schema()
    assert [name for _, name in await recorded()] == HEAD
    await close_db()
    if url.startswith("postgres"):
        await reset_postgres(url)
    else:
        url = f"sqlite://{tmp_path / 'from-models.sqlite3'}"
    await init_db(url, create_tables=False)
    await Tortoise.generate_schemas(safe=False)
    assert await schema() == migrated


# ---- (a) an upgrade keeps every row -------------------------------------------------------------


async def test_a_migration_adding_columns_keeps_every_row_and_gives_them_the_default(
    empty_database: str, tmp_path: Path
) -> None:
    await init_db(empty_database)  # as the current release makes and fills a database
    await fill_with_rows()
    before = await every_row()
    assert all(before.values()), [table for table, rows in before.items() if not rows]
    await close_db()

    extra = write_migration(tmp_path / "migrations", "0900_case_priority", ADD_COLUMNS)
    await init_db(empty_database, create_tables=False)
    applied = await migrate.upgrade([*migrate.discover(), *migrate.discover(extra)])
    assert [(a.migration.name, a.stamped) for a in applied] == [("0900_case_priority", False)]

    after = await every_row()
    assert after.keys() == before.keys()
    assert all(row.pop("priority") == 3 for row in after["case"])
    assert all(row.pop("note") == "无;备注" for row in after["citizen"])
    assert after == before
    assert await column_default("case", "priority") == "3"
    assert (await column_default("citizen", "note") or "").startswith("'无;备注'")
    assert [name for _, name in await recorded()] == [*HEAD, "0900_case_priority"]
    assert await Case.filter(urgent=True).count() == 1  # the ORM goes on working beside the new column


# ---- (b) a database from before migrations ------------------------------------------------------


async def table_identities() -> dict[str, Any]:
    """What changes if a table is dropped and made again: its root page (SQLite) or its oid (PostgreSQL)."""
    if dialect() == "sqlite":
        rows = await query("SELECT name, rootpage AS identity FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await query(
            "SELECT relname AS name, oid::int AS identity FROM pg_class "
            "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
        )
    return {r["name"]: r["identity"] for r in rows}


async def test_a_database_the_previous_release_made_is_stamped_not_rebuilt(empty_database: str) -> None:
    await init_db(empty_database, create_tables=False)
    await Tortoise.generate_schemas(safe=True)  # what init_db did before migrations
    await query('CREATE INDEX "idx_inbound_mes_sender_45da77" ON "inbound_message" ("sender")')  # an older one
    await fill_with_rows()
    before, identities = await every_row(), await table_identities()

    state = await migrate.status()
    assert state.legacy
    assert state.current is None
    assert [m.name for m in state.pending] == HEAD

    applied = await migrate.upgrade()
    assert [(a.migration.name, a.stamped) for a in applied] == [(HEAD[0], True), *((n, False) for n in HEAD[1:])]
    assert await every_row() == before
    after = await table_identities()
    assert after.pop(migrate.TABLE)
    assert after == identities  # the same tables, not new ones with the rows copied over
    assert [name for _, name in await recorded()] == HEAD
    if dialect() == "sqlite":
        indexes = {r["name"] for r in await query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    else:
        indexes = {r["indexname"] for r in await query("SELECT indexname FROM pg_indexes")}
    assert "idx_inbound_mes_sender_45da77" not in indexes  # 0002 dropped it
    assert not (await migrate.status()).pending


# ---- (d) once only ------------------------------------------------------------------------------


async def test_upgrading_twice_does_nothing_the_second_time(empty_database: str, tmp_path: Path) -> None:
    migrations = [*migrate.discover(), *migrate.discover(write_migration(tmp_path / "m", "0900_x", ADD_COLUMNS))]
    await init_db(empty_database, create_tables=False)
    assert [a.migration.name for a in await migrate.upgrade(migrations)] == [*HEAD, "0900_x"]
    history = await recorded()
    assert await migrate.upgrade(migrations) == []  # ADD COLUMN again would have failed
    assert await recorded() == history
    await close_db()
    await init_db(empty_database)  # the service starting again
    assert await recorded() == history


async def test_a_failing_migration_is_rolled_back_whole_and_not_recorded(empty_database: str, tmp_path: Path) -> None:
    failing = """
    async def upgrade(conn, dialect):
        await conn.execute_script('ALTER TABLE "case" ADD COLUMN "half" INT; SELECT * FROM "no_such_table"')
    """
    extra = write_migration(tmp_path / "m", "0900_half", failing)
    await init_db(empty_database)
    with pytest.raises(migrate.MigrationError, match="0900_half"):
        await migrate.upgrade([*migrate.discover(), *migrate.discover(extra)])
    assert [name for _, name in await recorded()] == HEAD
    if dialect() == "sqlite":
        columns = {r["name"] for r in await query('PRAGMA table_info("case")')}
    else:
        rows = await query("SELECT column_name FROM information_schema.columns WHERE table_name = 'case'")
        columns = {r["column_name"] for r in rows}
    assert "half" not in columns


# ---- (e) two processes at once ------------------------------------------------------------------

UPGRADE_SCRIPT = """
import asyncio, json, sys, time
from pathlib import Path
from models import migrate
from models.db import close_db, init_db

async def main(url, folder, start_at):
    await init_db(url, create_tables=False)
    from tortoise import Tortoise
    # Connected (and its PRAGMAs run) before the race, as a service is long before it upgrades: on SQLite a
    # connection opening while the other process holds the write lock may find the database locked.
    await Tortoise.get_connection("default").execute_query("SELECT 1")
    time.sleep(max(0.0, start_at - time.time()))  # both processes set off at the same moment
    try:
        applied = await migrate.upgrade([*migrate.discover(), *migrate.discover(Path(folder))])
    finally:
        await close_db()
    print(json.dumps([a.migration.name for a in applied]))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""

SLOW_ADD_COLUMNS = (
    ADD_COLUMNS
    + """
    import asyncio
    await asyncio.sleep(0.5)  # hold the lock while the other process arrives
"""
)


async def test_two_processes_upgrading_at_once_apply_each_migration_once(empty_database: str, tmp_path: Path) -> None:
    folder = write_migration(tmp_path / "m", "0900_slow", SLOW_ADD_COLUMNS)
    # The database file exists (in WAL mode) before the race, as a deployed one does: two first connections
    # converting a new SQLite file to WAL at once is not what this test is about.
    await init_db(empty_database, create_tables=False)
    await Tortoise.get_connection("default").execute_query("SELECT 1")
    await close_db()
    start_at = str(time.time() + 3.0)  # after both have imported and connected
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            UPGRADE_SCRIPT,
            empty_database,
            str(folder),
            start_at,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        results = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    for process, (_, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err.decode()
    applied = [json.loads(out) for out, _ in results]
    assert sorted(applied[0] + applied[1]) == sorted([*HEAD, "0900_slow"])  # each once, by one or the other
    await init_db(empty_database, create_tables=False)
    assert [name for _, name in await recorded()] == [*HEAD, "0900_slow"]


# ---- start-up with auto_upgrade = false ---------------------------------------------------------


async def test_init_db_without_auto_upgrade_refuses_a_database_that_lacks_migrations(empty_database: str) -> None:
    with pytest.raises(migrate.PendingMigrationsError) as refused:
        await init_db(empty_database, auto_upgrade=False)
    assert [m.name for m in refused.value.pending] == HEAD
    assert HEAD[0] in str(refused.value)
    await init_db(empty_database)
    await close_db()
    await init_db(empty_database, auto_upgrade=False)  # up to date: starts
    assert await Case.all().count() == 0


def test_auto_upgrade_is_a_database_setting_on_by_default() -> None:
    assert build_config({}, environ={}).database.auto_upgrade is True
    assert build_config({"database": {"auto_upgrade": False}}, environ={}).database.auto_upgrade is False
    assert build_config({}, environ={"MASHANG_DATABASE_AUTO_UPGRADE": "false"}).database.auto_upgrade is False


def test_sqlite_scripts_split_into_statements_with_semicolons_in_quotes_kept() -> None:
    script = "CREATE TABLE t (a TEXT); /* x; y */ INSERT INTO t VALUES ('a;b');\n\nINSERT INTO t VALUES ('c')"
    assert list(migrate.split_sqlite_script(script)) == [
        "CREATE TABLE t (a TEXT);",
        "/* x; y */ INSERT INTO t VALUES ('a;b');",
        "INSERT INTO t VALUES ('c');",
    ]


def test_two_migrations_with_one_version_are_refused(tmp_path: Path) -> None:
    folder = write_migration(tmp_path / "m", "0001_again", "async def upgrade(conn, dialect): pass\n")
    with pytest.raises(migrate.MigrationError, match="0001_again"):
        migrate.ordered([*migrate.discover(), *migrate.discover(folder)])


# ---- (c) the `mashang db` command ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def mashang(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHANG_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli.main",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


def config_file(tmp_path: Path, database: Path, extra: str = "") -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite://{database}"\n{extra}', encoding="utf-8")
    return str(path)


async def test_db_status_and_upgrade_on_the_command_line(tmp_path: Path) -> None:
    config = config_file(tmp_path, tmp_path / "cli.sqlite3")
    code, out, err = await mashang("db", "status", "--config", config)
    assert code == 0, err
    pending = "".join(f"  {name}\n" for name in HEAD)
    assert out == (
        f"数据库：SQLite {tmp_path / 'cli.sqlite3'}\n当前版本：空数据库\n"
        f"待执行的迁移（{len(HEAD)} 个）：\n{pending}执行：mashang db upgrade\n"
    )

    code, out, err = await mashang("db", "upgrade", "--config", config)
    assert code == 0, err
    last = HEAD[-1][:4]
    assert out == "".join(f"已升级：{name}\n" for name in HEAD) + f"数据库已是最新（版本 {last}）\n"

    code, out, _ = await mashang("--config", config, "db", "upgrade")  # the global --config works too
    assert (code, out) == (0, f"数据库已是最新（版本 {last}）\n")

    code, out, _ = await mashang("db", "status", "--config", config)
    assert out.splitlines()[1:] == [f"当前版本：{last}（{HEAD[-1]}）", "待执行的迁移：无"]

    code, out, _ = await mashang("db", "--help")
    assert code == 0
    assert "显示当前版本和待执行的迁移" in out
    assert "按顺序执行全部待执行的迁移" in out


async def test_db_upgrade_stamps_a_database_the_previous_release_made(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'old.sqlite3'}"
    await init_db(url, create_tables=False)
    await Tortoise.generate_schemas(safe=True)
    await fill_with_rows()
    await close_db()
    config = config_file(tmp_path, tmp_path / "old.sqlite3")
    code, out, _ = await mashang("db", "status", "--config", config)
    assert f"当前版本：无迁移记录（由之前的版本创建；执行 mashang db upgrade 时记为基线 {HEAD[0]}，数据不变）" in out
    code, out, err = await mashang("db", "upgrade", "--config", config)
    assert code == 0, err
    assert out.splitlines()[0] == f"已记为基线：{HEAD[0]}（数据库由之前的版本创建，数据不变）"


async def test_serve_with_auto_upgrade_off_refuses_to_start_naming_what_to_run(tmp_path: Path) -> None:
    port, simulator = free_port(), free_port()
    config = config_file(
        tmp_path,
        tmp_path / "serve.sqlite3",
        f'auto_upgrade = false\n[redis]\ndata_dir = "{tmp_path / "redis"}"\n'
        f'[server]\nport = {port}\npublic_base_url = "http://127.0.0.1:{port}"\n[simulator]\nport = {simulator}\n',
    )
    code, out, err = await mashang("serve", "--demo", "--config", config)
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [
        f"无法启动：数据库有待执行的迁移：{'、'.join(HEAD)}（[database] auto_upgrade = false）；"
        f"请先备份数据库，再运行 mashang db upgrade --config {config}"
    ]
    code, _, err = await mashang("db", "upgrade", "--config", config)
    assert code == 0, err
    code, _, err = await mashang("--config", config, "roster", "import", "roster.example.toml")
    assert code == 0, err  # upgraded: starts
