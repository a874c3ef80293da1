"""`mashang import hotline`: CSV (UTF-8 with BOM, GB18030) and XLSX exports, bad dates, unknown
categories, duplicate rows, a re-import that changes nothing and one with changed statuses, a dry run,
files that cannot be read; hotline cases in the staff chat (`查`, `统计`). Over the real CLI: in the
test's event loop on SQLite and PostgreSQL, and once as a separate process."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from bot.cli.imports import run_import
from bot.cli.main import build_parser
from bot.config import Config, build_config
from handlers.admin.roster import import_roster
from models.entities import Case, CaseEvent, CaseMessage, CaseSource, CaseState, Category, Citizen, TrackingSequence
from models.hotline import HOTLINE_OPENID, HotlineOrder
from models.jobs import Job
from models.timeutil import now
from models.tracking import is_valid_code
from tests.harness import ROSTER, Stack
from tests.hotline_files import MAPPING, beijing, order, write_csv, write_mapping, write_xlsx

ROOT = Path(__file__).resolve().parent.parent

ROWS = [
    order(
        "GD250301001", "2025-03-01 09:00:00", "东街路口红绿灯坏了，电话13812345678", phone="13812345678", address="东街"
    ),
    order("GD250301002", "2025-03-01 10:30:00", "医院挂号排队太久", category="医疗卫生", status="已办结"),
    order("GD250302003", "2025-03-02 08:15:00", "小区垃圾没人清运", district="南浔区", category="市容环卫"),
    order("GD250302004", "2025-03-02 11:00:00", "学校门口乱停车", category="教育", status="已受理"),
]


@pytest.fixture
async def config(db: None, database_url: str) -> Config:
    await import_roster(ROSTER)
    return build_config({"database": {"url": database_url}}, environ={})


async def hotline(config: Config, *argv: str | Path) -> tuple[int, str, str]:
    """`mashang import hotline <argv>` in the test's event loop, on the test's database."""
    args = build_parser().parse_args(["import", "hotline", *map(str, argv)])
    out, err = io.StringIO(), io.StringIO()
    code = await run_import(config, args, out=out, err=err, init_database=False)
    return code, out.getvalue(), err.getvalue()


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    connection = Tortoise.get_connection("default")
    tables = ["case", "hotline_order", "case_message", "case_event", "tracking_sequence", "citizen", "job"]
    return {table: await connection.execute_query_dict(f'SELECT * FROM "{table}" ORDER BY 1') for table in tables}


async def test_a_csv_with_a_bom_becomes_hotline_cases_that_nobody_is_messaged_about(
    config: Config, tmp_path: Path
) -> None:
    export = write_csv(tmp_path / "工单.csv", ROWS, bom=True)
    code, out, err = await hotline(config, export, "--mapping", write_mapping(tmp_path))
    assert code == 0, err
    assert "CSV，UTF-8（带 BOM）" in out
    assert "共 4 行：新增 4，更新 0，未变 0，拒绝 0" in out
    assert "映射里没有的类别，已归入「其他」：「市容环卫」1 行" in out
    assert err == ""

    cases = {o.external_id: o for o in await HotlineOrder.all().prefetch_related("case", "case__category")}
    assert set(cases) == {row[0] for row in ROWS}
    first = cases["GD250301001"]
    case = first.case
    assert case.source == CaseSource.HOTLINE
    assert is_valid_code(case.code, "MS")
    assert case.code.startswith("MS250301")  # the Beijing day the hotline received it
    assert case.created_at == datetime(2025, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 Beijing time
    assert case.state == CaseState.TRANSFERRED  # open: worked by the hotline
    assert case.district == "吴兴区"
    assert case.category is not None
    assert case.category.key == "transport"
    assert case.assign_due_at is None
    assert case.reply_due_at is None
    assert first.phone == "13812345678"  # kept for a call-back
    assert first.address == "东街"
    assert first.status == "办理中"
    assert cases["GD250301002"].case.state == CaseState.CLOSED
    assert cases["GD250301002"].case.closed_at is not None
    assert cases["GD250302003"].case.category is None  # no 其他 in the roster: no category, shown as 其他
    assert cases["GD250302003"].category == "市容环卫"  # the file's value stays
    [message] = await CaseMessage.filter(case=case)
    assert message.content == "东街路口红绿灯坏了，电话13812345678"
    assert message.author == "hotline"
    assert await Job.all().count() == 0  # no triage card, deadline, reply or anything else
    citizen = await Citizen.get(openid=HOTLINE_OPENID)
    assert await Case.filter(citizen=citizen).count() == 4
    assert (await TrackingSequence.get(day="250301")).last_value == 2
    assert (await TrackingSequence.get(day="250302")).last_value == 2


async def test_reimporting_changes_nothing_and_a_later_export_updates_the_statuses(
    config: Config, tmp_path: Path
) -> None:
    mapping = write_mapping(tmp_path)
    export = write_csv(tmp_path / "march.csv", ROWS, bom=True)
    assert (await hotline(config, export, "--mapping", mapping))[0] == 0
    before = await snapshot()

    code, out, _ = await hotline(config, export, "--mapping", mapping)
    assert code == 0
    assert "共 4 行：新增 0，更新 0，未变 4，拒绝 0" in out
    assert await snapshot() == before

    later = [list(row) for row in ROWS]
    later[0][5] = "已办结"  # closed by the hotline
    later[1][5] = "办理中"  # reopened
    later.append(order("GD250303005", "2025-03-03 09:00:00", "公交站台缺少遮雨棚"))
    code, out, err = await hotline(config, write_csv(tmp_path / "later.csv", later), "--mapping", mapping)
    assert code == 0, err
    assert "共 5 行：新增 1，更新 2（其中办理状态变化 2），未变 2，拒绝 0" in out
    first = await Case.get(hotline_order__external_id="GD250301001")
    assert first.state == CaseState.CLOSED
    assert first.closed_at is not None
    assert first.code == before["case"][0]["code"]  # the tracking code never changes
    second = await Case.get(hotline_order__external_id="GD250301002")
    assert second.state == CaseState.TRANSFERRED
    assert second.closed_at is None
    [event] = await CaseEvent.filter(case=first, kind="hotline.updated")
    assert (event.from_state, event.to_state, event.actor) == ("transferred", "closed", "hotline")
    assert event.detail == {"status": "已办结"}
    assert (await HotlineOrder.get(external_id="GD250301001")).status == "已办结"
    assert await Case.filter(source=CaseSource.HOTLINE).count() == 5

    # A case staff merged meanwhile keeps its state; the hotline's status is still recorded.
    await Case.filter(id=second.id).update(state=CaseState.MERGED)
    later[1][5] = "已办结"
    code, out, _ = await hotline(config, write_csv(tmp_path / "latest.csv", later), "--mapping", mapping)
    assert "更新 1（其中办理状态变化 0）" in out
    assert (await Case.get(id=second.id)).state == CaseState.MERGED
    assert (await HotlineOrder.get(case_id=second.id)).status == "已办结"


async def test_a_gb18030_file_is_detected(config: Config, tmp_path: Path) -> None:
    rows = [*ROWS, order("GD250305006", "2025-03-05 09:00:00", "𠀀字路口积水（GB18030 四字节字）")]
    export = write_csv(tmp_path / "gbk.csv", rows, encoding="gb18030")
    code, out, err = await hotline(config, export, "--mapping", write_mapping(tmp_path))
    assert code == 0, err
    assert "CSV，GB18030" in out
    assert "新增 5" in out
    message = await CaseMessage.get(case__hotline_order__external_id="GD250305006")
    assert message.content == "𠀀字路口积水（GB18030 四字节字）"
    assert (await Case.get(hotline_order__external_id="GD250302003")).district == "南浔区"


async def test_an_xlsx_export_with_a_bom_in_its_header_and_date_cells(config: Config, tmp_path: Path) -> None:
    rows: list[list[Any]] = [list(row) for row in ROWS]
    rows[0][1] = datetime(2025, 3, 1, 9, 0)  # a date cell: no format to parse
    rows[0][7] = 13812345678  # a number cell: the phone number as digits, not 13812345678.0
    rows[1][0] = 250301002  # a numeric work-order number
    export = write_xlsx(tmp_path / "工单.xlsx", rows, bom=True)
    mapping = write_mapping(tmp_path)
    code, out, err = await hotline(config, export, "--mapping", mapping, "--sheet", "工单")
    assert code == 0, err
    assert "XLSX，工作表「工单」" in out
    assert "共 4 行：新增 4" in out
    first = await HotlineOrder.get(external_id="GD250301001").prefetch_related("case")
    assert first.phone == "13812345678"
    assert first.case.created_at == datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
    assert await HotlineOrder.exists(external_id="250301002")

    code, _, err = await hotline(config, export, "--mapping", mapping, "--sheet", "汇总")
    assert code == 1
    assert "没有工作表「汇总」（有：说明、工单）" in err
    code, out, _ = await hotline(config, export, "--mapping", mapping, "--sheet", "工单")
    assert "新增 0，更新 0，未变 4" in out


async def test_bad_rows_are_refused_with_line_column_and_value_and_the_rest_go_in(
    config: Config, tmp_path: Path
) -> None:
    rows = [
        ROWS[0],  # line 2
        order("GD2", "2026-13-01"),  # line 3: no 13th month
        order("GD3", "2025/03/01 09:00"),  # line 4: another format
        order("", "2025-03-01 09:00:00"),  # line 5: no number
        order("GD5", "2025-03-01 09:00:00", status="挂起"),  # line 6: a status the mapping lacks
        order("GD6", "2025-03-01 09:00:00", text=""),  # line 7
        order("GD7", "2025-03-01 09:00:00", phone="13812345678-" + "9" * 30),  # line 8: too long, masked
        order("GD8", beijing(now() + timedelta(days=2))),  # line 9: not yet happened
        ROWS[1],  # line 10
    ]
    code, out, err = await hotline(config, write_csv(tmp_path / "bad.csv", rows), "--mapping", write_mapping(tmp_path))
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == '第 3 行：受理时间 "2026-13-01"：不是 %Y-%m-%d %H:%M:%S 格式的时间'
    assert lines[1] == '第 4 行：受理时间 "2025/03/01 09:00"：不是 %Y-%m-%d %H:%M:%S 格式的时间'
    assert lines[2] == '第 5 行：工单编号 ""：为空'
    assert lines[3].startswith(
        '第 6 行：办理状态 "挂起"：不在映射的 [status] 里（已映射："已办结"、"办理中"、"已受理"）'
    )
    assert lines[4] == '第 7 行：诉求内容 ""：为空'
    assert lines[5].startswith('第 8 行：来电号码 "138****5678-')
    assert lines[5].endswith("超过 32 个字符")
    assert lines[6].startswith('第 9 行：受理时间 "')
    assert "晚于现在" in lines[6]
    assert len(lines) == 7
    assert "13812345678" not in err
    assert "共 9 行：新增 2，更新 0，未变 0，拒绝 7" in out
    assert set(await HotlineOrder.all().values_list("external_id", flat=True)) == {"GD250301001", "GD250301002"}


async def test_unknown_categories_go_to_the_rosters_other_category_and_are_listed(
    config: Config, tmp_path: Path
) -> None:
    other = await Category.create(key="other", name="其他")
    rows = [
        *ROWS,
        order("GD9", "2025-03-03 09:00:00", category="噪声扰民"),
        order("GD10", "2025-03-03 10:00:00", category="噪声扰民"),
        order("GD11", "2025-03-03 11:00:00", category=""),
    ]
    code, out, _ = await hotline(config, write_csv(tmp_path / "c.csv", rows), "--mapping", write_mapping(tmp_path))
    assert code == 0
    assert "映射里没有的类别，已归入「其他」：「噪声扰民」2 行、「市容环卫」1 行、「（空）」1 行" in out
    assert await Case.filter(category=other).count() == 4
    assert await Case.filter(category__key="transport").count() == 1


async def test_duplicate_rows_are_one_work_order_and_a_conflicting_one_is_refused(
    config: Config, tmp_path: Path
) -> None:
    changed = list(ROWS[0])
    changed[5] = "已办结"
    rows = [ROWS[0], ROWS[1], ROWS[0], changed, *ROWS[2:]]  # lines 2..7
    code, out, err = await hotline(config, write_csv(tmp_path / "d.csv", rows), "--mapping", write_mapping(tmp_path))
    assert code == 2
    assert (
        err.strip()
        == '第 5 行：工单编号 "GD250301001"：与第 2 行的工单编号相同而内容不同，未导入（请核对是哪一行有误）'
    )
    assert "共 6 行：新增 4，更新 0，未变 1（其中文件内重复的行 1），拒绝 1" in out
    assert await HotlineOrder.filter(external_id="GD250301001").count() == 1
    assert (await Case.get(hotline_order__external_id="GD250301001")).state == CaseState.TRANSFERRED


async def test_a_dry_run_reports_and_writes_nothing(config: Config, tmp_path: Path) -> None:
    mapping = write_mapping(tmp_path)
    await hotline(config, write_csv(tmp_path / "a.csv", ROWS[:2]), "--mapping", mapping)
    before = await snapshot()
    later = [list(row) for row in ROWS]
    later[0][5] = "已办结"
    code, out, _ = await hotline(config, write_csv(tmp_path / "b.csv", later), "--mapping", mapping, "--dry-run")
    assert code == 0
    assert "试运行" in out
    assert "将新增 2，将更新 1（其中办理状态变化 1），未变 1" in out
    assert await snapshot() == before


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", "无法读取 {file}：文件不存在"),
        ("xls", "是旧版 Excel（.xls）文件"),
        ("utf16", "是 UTF-16 编码的文本"),
        ("latin", "既不是 UTF-8 也不是 GB18030"),
        ("columns", "文件里没有映射要求的列 「受理时间」（[columns] received_at）"),
        ("mapping", "映射文件 {mapping} 无法使用：[columns] 缺少 text"),
        ("category", "[categories] 指向花名册里没有的类别代号：city"),
        ("status", '[status] "已办结" = "done"：只能映射到 open 或 closed'),
        ("toml", "不是有效的 TOML"),
        ("sheet", "是 CSV 文件，--sheet 只用于 .xlsx"),
    ],
)
async def test_a_file_or_mapping_that_cannot_be_used_exits_1_and_writes_nothing(
    config: Config, tmp_path: Path, setup: str, expected: str
) -> None:
    export = write_csv(tmp_path / "x.csv", ROWS)
    mapping_text = MAPPING
    extra: list[str] = []
    if setup == "missing":
        export = tmp_path / "nope.csv"
    elif setup == "xls":
        export.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    elif setup == "utf16":
        export.write_bytes("工单编号,受理时间\n".encode("utf-16"))
    elif setup == "latin":
        export.write_bytes(b"\xe5\xb7,\x80\xff\n")
    elif setup == "columns":
        headers = ["工单编号", "诉求内容", "所属区县", "诉求类别", "办理状态", "事发地址", "来电号码"]
        export = write_csv(tmp_path / "x.csv", [], headers=headers)
    elif setup == "mapping":
        mapping_text = MAPPING.replace('text = "诉求内容"\n', "")
    elif setup == "category":
        mapping_text = MAPPING.replace('"教育" = "education"', '"教育" = "education"\n"市容环卫" = "city"')
    elif setup == "status":
        mapping_text = MAPPING.replace('"已办结" = "closed"', '"已办结" = "done"')
    elif setup == "toml":
        mapping_text = "[columns\n"
    elif setup == "sheet":
        extra = ["--sheet", "工单"]
    mapping = write_mapping(tmp_path, mapping_text)
    code, _, err = await hotline(config, export, "--mapping", mapping, *extra)
    assert code == 1
    assert expected.format(file=export, mapping=mapping) in err
    assert await Case.all().count() == 0
    assert await Citizen.all().count() == 0


# ---- the real process, and the staff chat ------------------------------------------------------------


async def test_the_mashang_command_exits_0_2_and_1(database_url: str, tmp_path: Path) -> None:
    from tests.conftest import reset_postgres

    if database_url.startswith("postgres"):
        await reset_postgres(database_url)
    env = {**os.environ, "MASHANG_DATABASE_URL": database_url, "MASHANG_REDIS_URL": "redis://127.0.0.1:1"}
    mapping = write_mapping(tmp_path)

    async def mashang(*argv: str | Path) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli.main",
            *map(str, argv),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    code, _, err = await mashang("roster", "import", ROSTER)
    assert code == 0, err
    good = write_csv(tmp_path / "good.csv", ROWS, bom=True)
    code, out, err = await mashang("import", "hotline", good, "--mapping", mapping)
    assert code == 0, err
    assert "新增 4" in out
    bad = write_csv(tmp_path / "bad.csv", [*ROWS, order("GD2", "2026-13-01")])
    code, out, err = await mashang("import", "hotline", bad, "--mapping", mapping)
    assert code == 2
    assert '第 6 行：受理时间 "2026-13-01"：不是 %Y-%m-%d %H:%M:%S 格式的时间' in err
    assert "新增 0，更新 0，未变 4，拒绝 1" in out
    code, _, err = await mashang("import", "hotline", tmp_path / "none.csv", "--mapping", mapping)
    assert code == 1
    assert "无法读取" in err
    assert "文件不存在" in err
    code, out, _ = await mashang("import", "hotline", "--help")
    assert code == 0
    assert "--dry-run" in out
    assert "--sheet" in out


async def say(stack: Stack, userid: str, text: str) -> str:
    result = await stack.wecom_user().text(userid, text)
    assert result.status == 200, result.body
    assert result.reply is not None, result.body
    return str(result.reply["Content"])


async def test_hotline_cases_in_the_staff_chat_masked_and_counted_apart(stack: Stack, tmp_path: Path) -> None:
    assert stack.config is not None
    received = beijing(now())  # today, whenever the test runs
    rows = [order("GD1", received, "红绿灯坏了，我的电话13812345678", phone="13812345678"), order("GD2", received)]
    code, _, err = await hotline(
        stack.config, write_csv(tmp_path / "t.csv", rows, bom=True), "--mapping", write_mapping(tmp_path)
    )
    assert code == 0, err
    case = await Case.get(hotline_order__external_id="GD1")
    shown = await say(stack, "lisi", f"查 {case.code}")
    assert "12345 热线" in shown
    assert "已转办" in shown
    assert "13812345678" not in shown
    assert "138****5678" in shown
    assert "13812345678（12345 热线来电号码）" in await say(stack, "lisi", f"电话 {case.code}")  # once, whole
    stats = await say(stack, "lisi", "统计")
    assert "今日：新增 2 件" in stats
    assert "12345 热线：2 件" in stats
    assert "未经联系点" not in stats  # not counted as citizens writing without a contact point's code
    queue = await say(stack, "lisi", "待办")
    assert case.code not in queue
    assert "待分拣 0 件" in queue
    await stack.run_jobs()
    assert stack.platform.messages == []  # nothing to anyone

    # Staff may still answer a hotline case here; the caller is no WeChat user and is sent nothing.
    assert "已答复" in await say(stack, "lisi", f"答 {case.code} 已联系交警修复")
    await stack.run_jobs()
    assert await Job.filter(kind="send.citizen").count() == 0
    assert stack.platform.sent_to(HOTLINE_OPENID) == []
    assert (await Case.get(id=case.id)).state == CaseState.REPLIED


def test_the_documented_mapping_parses_and_names_categories_of_the_example_roster() -> None:
    import tomllib

    from handlers.hotline.mapping import parse_mapping

    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    block = doc.split("### 映射文件（MAPPING.toml）", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    mapping = parse_mapping(block)
    assert set(mapping.columns) == {
        "external_id",
        "received_at",
        "text",
        "district",
        "category",
        "status",
        "address",
        "phone",
    }
    roster = tomllib.loads(ROSTER.read_text(encoding="utf-8"))
    assert set(mapping.categories.values()) <= {category["key"] for category in roster["categories"]}
    assert mapping.status == {"已受理": "open", "办理中": "open", "已办结": "closed", "": "open"}
    assert mapping.time_format == "%Y-%m-%d %H:%M:%S"
