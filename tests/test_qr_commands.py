"""`mashang qr …` against the fake WeChat platform: codes made once and reused, the permanent-code
limit, temporary and mini-program codes, posters that decode back, revocation seen by a scanning
citizen, and the scan figures counted from real callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import zxingcpp
from aiohttp import web
from PIL import Image
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

import handlers.admin.qr_codes
import qr.fonts as qr_fonts
from bot.cli.main import build_parser, main
from bot.cli.qr import format_table, run_qr
from bot.demo.fake_platform import FakePlatform, create_fake_platform
from handlers.admin.qr_codes import PermanentLimitReached, check_permanent_budget
from handlers.admin.qr_stats import figures, local_day, record_scan
from models.entities import ContactPoint
from models.qr import ContactPointDaily, QrCode, QrKind
from models.timeutil import now
from tests.harness import Stack

POINTS = ["hz-hospital-1", "hz-school-1", "hz-ent-1", "hz-studio-zhang"]  # roster.example.toml
HOSPITAL = "湖州市中心医院"


async def qr(stack: Stack, *argv: str) -> tuple[int, str, str]:
    """Run `mashang qr <argv>` inside the test's event loop, on the stack's database."""
    args = build_parser().parse_args(["qr", *argv])
    out, err = io.StringIO(), io.StringIO()
    assert stack.config is not None
    code = await run_qr(stack.config, args, out=out, err=err, init_database=False)
    return code, out.getvalue(), err.getvalue()


def decode_png(data: bytes) -> list[str]:
    with Image.open(io.BytesIO(data)) as image:
        return [r.text for r in zxingcpp.read_barcodes(image.convert("L"))]


def qr_creates(stack: Stack) -> list[dict]:
    return [call.body for call in stack.platform.calls_to("/cgi-bin/qrcode/create")]


def reply_text(result) -> str:
    assert result.status == 200, result.body
    assert result.reply is not None
    return result.reply["Content"]


# ---- official-account codes ----------------------------------------------------------------------


async def test_make_creates_permanent_codes_once_and_reuses_them(stack: Stack, tmp_path: Path) -> None:
    code, out, err = await qr(stack, "make", "hz-hospital-1", "hz-school-1")
    assert code == 0, err
    bodies = qr_creates(stack)
    assert [b["action_info"]["scene"]["scene_str"] for b in bodies] == ["cp:hz-hospital-1", "cp:hz-school-1"]
    assert {b["action_name"] for b in bodies} == {"QR_LIMIT_STR_SCENE"}
    assert "新建 2" in out
    stored = await QrCode.get(slot="oa:cp:hz-hospital-1")
    assert stored.kind == QrKind.OA
    assert stored.url is not None
    assert stored.url in out
    assert stack.platform.qr_scene(stored.ticket or "") == "cp:hz-hospital-1"

    # Again, and with --all: only the two points without a code cost an API call.
    code, out, _ = await qr(stack, "make", "hz-hospital-1", "hz-school-1")
    assert code == 0
    assert len(qr_creates(stack)) == 2
    assert "复用 2" in out
    code, out, _ = await qr(stack, "make", "--all")
    assert code == 0
    assert len(qr_creates(stack)) == 4
    assert "新建 2，复用 2" in out
    assert await QrCode.filter(kind=QrKind.OA).count() == 4
    assert "4/100000" in out


async def test_unknown_keys_are_named_and_nothing_is_made(stack: Stack) -> None:
    code, _, err = await qr(stack, "make", "nope-1", "hz-hospital-1", "nope-2")
    assert code == 2
    assert err.strip() == "未知联系点：nope-1, nope-2"
    assert qr_creates(stack) == []
    code, _, err = await qr(stack, "make")
    assert code == 2
    assert "--all" in err
    code, _, err = await qr(stack, "poster", "--all", "hz-hospital-1")
    assert code == 2


def test_permanent_budget_edges() -> None:
    assert check_permanent_budget(0, 0, 10) is None
    assert check_permanent_budget(0, 9, 10) is None  # 90 %
    assert check_permanent_budget(9, 1, 20) is None  # 50 %
    assert "仅剩" in (check_permanent_budget(94_999, 1, 100_000) or "")  # 95 % reached
    assert check_permanent_budget(99_999, 1, 100_000) is not None  # exactly the limit: allowed, warned
    with pytest.raises(PermanentLimitReached, match="上限"):
        check_permanent_budget(99_999, 2, 100_000)


async def test_the_permanent_code_limit_refuses_before_calling_wechat(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers.admin.qr_codes, "PERMANENT_QR_LIMIT", 3)
    code, _, err = await qr(stack, "make", "--all")  # 4 needed, 3 allowed
    assert code == 2
    assert "上限" in err
    assert "已用 0，本次需新建 4，上限 3" in err
    assert len(err.strip().splitlines()) == 1
    assert qr_creates(stack) == []

    monkeypatch.setattr(handlers.admin.qr_codes, "PERMANENT_QR_LIMIT", 4)
    code, _, err = await qr(stack, "make", "--all")
    assert code == 0
    assert "注意" in err  # 4 of 4: warned
    assert len(qr_creates(stack)) == 4
    # Reusing existing codes needs no room; a fifth point does.
    assert (await qr(stack, "make", "hz-hospital-1"))[0] == 0
    await ContactPoint.create(key="hz-new-1", name="新联系点")
    code, _, err = await qr(stack, "make", "hz-new-1")
    assert code == 2
    assert "已用 4，本次需新建 1，上限 4" in err
    assert len(qr_creates(stack)) == 4


async def test_wechat_saying_limit_reached_is_a_clear_error(stack: Stack) -> None:
    stack.platform.permanent_qr_limit = 1
    code, _, err = await qr(stack, "make", "hz-hospital-1", "hz-school-1")
    assert code == 2
    assert "45029" in err
    # The first code was kept: a second run does not ask for it again.
    assert await QrCode.filter(kind=QrKind.OA).count() == 1


async def test_temporary_codes_carry_expire_seconds(stack: Stack) -> None:
    before = now()
    code, out, err = await qr(stack, "make", "hz-hospital-1", "--expire", "3600")
    assert code == 0, err
    [body] = qr_creates(stack)
    assert body["action_name"] == "QR_STR_SCENE"
    assert body["expire_seconds"] == 3600
    assert body["action_info"]["scene"]["scene_str"] == "cp:hz-hospital-1"
    temp = await QrCode.get(kind=QrKind.OA_TEMP)
    assert temp.slot is None
    assert temp.expire_at is not None
    assert before + timedelta(seconds=3590) <= temp.expire_at <= now() + timedelta(seconds=3610)
    assert "有效至" in out
    # Temporary codes are made anew each time and never count as permanent ones.
    assert (await qr(stack, "make", "hz-hospital-1", "--expire", "7d"))[0] == 0
    assert qr_creates(stack)[-1]["expire_seconds"] == 7 * 86400
    assert await QrCode.filter(kind=QrKind.OA).count() == 0

    code, _, err = await qr(stack, "make", "hz-hospital-1", "--expire", "2592001")
    assert code == 2
    assert "2592000" in err
    code, _, err = await qr(stack, "make", "hz-hospital-1", "--kind", "wxa", "--expire", "60")
    assert code == 2
    assert len(qr_creates(stack)) == 2


async def test_oa_kind_with_out_writes_png_and_svg_of_the_code(stack: Stack, tmp_path: Path) -> None:
    code, out, err = await qr(stack, "make", "hz-ent-1", "--out", str(tmp_path / "oa"))
    assert code == 0, err
    url = (await QrCode.get(slot="oa:cp:hz-ent-1")).url
    assert decode_png((tmp_path / "oa" / "hz-ent-1.png").read_bytes()) == [url]
    assert (tmp_path / "oa" / "hz-ent-1.svg").read_bytes().startswith(b"<?xml")
    assert url in out
    assert "hz-ent-1.png" in out
    # Without --out: the code's address only, no files anywhere.
    code, out, _ = await qr(stack, "make", "hz-hospital-1")
    assert code == 0
    assert "hz-hospital-1.png" not in out


async def test_url_kind_writes_png_and_svg_of_the_code_url(stack: Stack, tmp_path: Path) -> None:
    code, _, err = await qr(stack, "make", "hz-ent-1", "--kind", "url", "--out", str(tmp_path))
    assert code == 0, err
    url = (await QrCode.get(slot="oa:cp:hz-ent-1")).url
    assert decode_png((tmp_path / "hz-ent-1.png").read_bytes()) == [url]
    assert (tmp_path / "hz-ent-1.svg").read_bytes().startswith(b"<?xml")
    target = "https://example.com/q?a=1"
    code, _, _ = await qr(stack, "make", "--kind", "url", "--url", target, "--out", str(tmp_path))
    assert code == 0
    [png] = await asyncio.to_thread(lambda: list(tmp_path.glob("url-*.png")))
    assert decode_png(png.read_bytes()) == [target]


# ---- mini-program codes --------------------------------------------------------------------------


async def test_mini_program_codes_are_stored_and_not_fetched_twice(stack: Stack, tmp_path: Path) -> None:
    out_dir = tmp_path / "codes"
    code, _, err = await qr(stack, "make", "hz-hospital-1", "--kind", "wxa", "--out", str(out_dir))
    assert code == 0, err
    [call] = stack.platform.calls_to("/wxa/getwxacodeunlimit")
    assert call.body["scene"] == "cp=hz-hospital-1"
    assert call.body["page"] == "pages/index/index"
    png = out_dir / "hz-hospital-1-wxa.jpg"  # WeChat sends mini-program codes as JPEG
    assert png.read_bytes().startswith(b"\xff\xd8\xff")
    assert not (out_dir / "hz-hospital-1-wxa.png").exists()
    assert decode_png(png.read_bytes()) == ["cp=hz-hospital-1"]
    # A second make copies the stored file to another folder without calling WeChat.
    other = tmp_path / "elsewhere"
    assert (await qr(stack, "make", "hz-hospital-1", "--kind", "wxa", "--out", str(other)))[0] == 0
    assert len(stack.platform.calls_to("/wxa/getwxacodeunlimit")) == 1
    assert (other / "hz-hospital-1-wxa.jpg").read_bytes() == png.read_bytes()
    # The file is gone: fetched again (mini-program codes are unlimited).
    png.unlink()
    (other / "hz-hospital-1-wxa.jpg").unlink()
    assert (await qr(stack, "make", "hz-hospital-1", "--kind", "wxa", "--out", str(out_dir)))[0] == 0
    assert len(stack.platform.calls_to("/wxa/getwxacodeunlimit")) == 2
    assert await QrCode.filter(kind=QrKind.WXA).count() == 1


async def test_mini_program_scene_too_long_is_a_clear_error(stack: Stack, tmp_path: Path) -> None:
    long_key = "hz-community-centre-east-123"  # 28 characters: the scene "cp=" + key has 31, fits
    longer_key = "hz-community-centre-east-1234567"  # scene of 35 characters
    await ContactPoint.create(key=long_key, name="东区社区中心")
    await ContactPoint.create(key=longer_key, name="东区社区中心二")
    code, _, err = await qr(stack, "make", long_key, "--kind", "wxa", "--out", str(tmp_path))
    assert code == 0, err
    code, _, err = await qr(stack, "make", long_key, longer_key, "--kind", "wxa", "--out", str(tmp_path))
    assert code == 2
    assert longer_key in err
    assert "32" in err
    assert len(err.strip().splitlines()) == 1
    assert len(stack.platform.calls_to("/wxa/getwxacodeunlimit")) == 1  # nothing called for the batch


# ---- posters -------------------------------------------------------------------------------------


async def test_oa_poster_decodes_to_the_code_url_from_wechat(stack: Stack, tmp_path: Path) -> None:
    code, out, err = await qr(
        stack, "poster", "hz-hospital-1", "--size", "a5", "--format", "png", "--out", str(tmp_path)
    )
    assert code == 0, err
    stored = await QrCode.get(slot="oa:cp:hz-hospital-1")
    # The URL is what the fake platform answered for this ticket.
    ticket = stored.ticket or ""
    assert stored.url == f"http://weixin.qq.com/q/{ticket[2:24]}"
    assert stack.platform.qr_scene(ticket) == "cp:hz-hospital-1"
    poster = tmp_path / "hz-hospital-1.png"
    assert str(poster) in out
    with Image.open(poster) as image:
        assert image.size == (1748, 2480)
        assert decode_png(poster.read_bytes()) == [stored.url]
    # A second poster reuses the code.
    assert (await qr(stack, "poster", "hz-hospital-1", "--size", "a5", "--out", str(tmp_path)))[0] == 0
    assert len(qr_creates(stack)) == 1


async def test_wxa_poster_prints_the_mini_program_code(stack: Stack, tmp_path: Path) -> None:
    code, _, err = await qr(
        stack,
        "poster",
        "hz-school-1",
        "--kind",
        "wxa",
        "--size",
        "a5",
        "--format",
        "pdf",
        "--out",
        str(tmp_path / "posters"),
        "--codes-dir",
        str(tmp_path / "codes"),
    )
    assert code == 0, err
    pdf = (tmp_path / "posters" / "hz-school-1.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    page = Image.open(io.BytesIO(pdf[pdf.index(b"\xff\xd8\xff") : pdf.rindex(b"\xff\xd9") + 2]))
    assert [r.text for r in zxingcpp.read_barcodes(page.convert("L"))] == ["cp=hz-school-1"]
    assert (tmp_path / "codes" / "hz-school-1-wxa.jpg").exists()


async def test_poster_all_makes_one_zip_with_a_poster_per_active_point(stack: Stack, tmp_path: Path) -> None:
    await qr(stack, "revoke", "hz-studio-zhang")
    code, out, err = await qr(stack, "poster", "--all", "--size", "a5", "--out", str(tmp_path))
    assert code == 0, err
    archive = tmp_path / "posters-oa-a5-png.zip"
    assert str(archive) in out
    with zipfile.ZipFile(archive) as zipped:
        names = sorted(zipped.namelist())
        assert names == sorted(f"{key}.png" for key in POINTS if key != "hz-studio-zhang")
        urls = {c.contact_point_id: c.url for c in await QrCode.filter(kind=QrKind.OA)}
        school = await ContactPoint.get(key="hz-school-1")
        assert decode_png(zipped.read("hz-school-1.png")) == [urls[school.id]]


def _no_fonts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This machine has no CJK font at all."""
    empty = tmp_path / "no-fonts"
    empty.mkdir(exist_ok=True)
    monkeypatch.setattr(qr_fonts, "_package_fonts", lambda: iter(()))
    monkeypatch.setattr(qr_fonts, "_fontconfig_fonts", lambda: iter(()))
    monkeypatch.setattr(qr_fonts, "DEFAULT_FONT_DIRS", (str(empty),))
    monkeypatch.setattr(qr_fonts, "_found_cache", {})


async def test_missing_font_is_a_one_line_error_before_any_code_is_made(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_fonts(monkeypatch, tmp_path)
    code, _, err = await qr(stack, "poster", "hz-hospital-1", "--out", str(tmp_path))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "未找到中文字体" in err
    assert qr_creates(stack) == []
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.png")))


def test_missing_font_through_the_mashang_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_fonts(monkeypatch, tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('[poster]\nfont_path = "/nonexistent/font.otf"\n', encoding="utf-8")
    assert main(["--config", str(config), "qr", "poster", "hz-hospital-1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "/nonexistent/font.otf" in err


# ---- revocation ----------------------------------------------------------------------------------


async def test_revoke_then_a_scan_gets_the_closed_point_greeting(stack: Stack) -> None:
    assert (await qr(stack, "make", "hz-school-1"))[0] == 0
    code, out, err = await qr(stack, "revoke", "hz-school-1")
    assert code == 0, err
    assert "已停用" in out
    point = await ContactPoint.get(key="hz-school-1")
    assert point.revoked_at is not None
    code_row = await QrCode.get(slot="oa:cp:hz-school-1")
    assert code_row.revoked_at is not None

    citizen = stack.citizen()
    greeting = reply_text(await citizen.event("o-rev-1", "subscribe", "qrscene_cp:hz-school-1"))
    assert "此联系点已停止使用" in greeting or "联系点已停止使用" in greeting
    assert "湖州中学" in greeting
    assert "SCAN" not in greeting
    # Other points are untouched; a second revoke says so; revoked points get no new codes.
    assert HOSPITAL in reply_text(await citizen.event("o-rev-2", "SCAN", "cp:hz-hospital-1"))
    code, out, _ = await qr(stack, "revoke", "hz-school-1")
    assert code == 0
    assert "此前已停用" in out
    code, _, err = await qr(stack, "make", "hz-school-1")
    assert code == 2
    assert "已停用" in err
    code, _, err = await qr(stack, "revoke", "no-such-point")
    assert code == 2
    assert "no-such-point" in err


# ---- figures -------------------------------------------------------------------------------------


async def test_stats_count_scans_followers_and_cases_from_real_callbacks(stack: Stack) -> None:
    citizen = stack.citizen()
    stamp = int(now().timestamp())
    # A non-follower scans the hospital's code (subscribe with scene), writes: one case.
    await citizen.event("o-st-1", "subscribe", "qrscene_cp:hz-hospital-1", create_time=stamp)
    await citizen.event("o-st-1", "subscribe", "qrscene_cp:hz-hospital-1", create_time=stamp)  # retry
    reply_text(await citizen.text("o-st-1", "门诊排队太久"))
    reply_text(await citizen.text("o-st-1", "补充：周一尤其严重"))  # joins the case
    # A follower scans it again, and the school's code, and writes there.
    await citizen.event("o-st-2", "SCAN", "cp:hz-hospital-1")
    await citizen.event("o-st-2", "SCAN", "cp:hz-school-1")
    reply_text(await citizen.text("o-st-2", "校门口拥堵"))
    # A follow without a code, then a message: no contact point.
    await citizen.event("o-st-3", "subscribe", "")
    reply_text(await citizen.text("o-st-3", "公交站牌损坏"))

    report = await figures()
    rows = {row.key: row for row in report.rows}
    hospital, school = rows["hz-hospital-1"], rows["hz-school-1"]
    assert (hospital.scans, hospital.new_followers, hospital.new_cases) == (2, 1, 1)
    assert (school.scans, school.new_followers, school.new_cases) == (1, 0, 1)
    assert (rows[""].scans, rows[""].new_followers, rows[""].new_cases) == (0, 1, 1)
    assert (rows["hz-ent-1"].scans, rows["hz-ent-1"].new_cases) == (0, 0)
    total = report.total
    assert (total.scans, total.new_followers, total.new_cases) == (3, 2, 3)

    code, out, err = await qr(stack, "stats")
    assert code == 0, err
    lines = out.splitlines()
    hospital_line = next(line for line in lines if line.startswith("hz-hospital-1"))
    assert hospital_line.split()[-3:] == ["2", "1", "1"]
    assert lines[-1].split()[-4:] == ["合计", "3", "2", "3"]
    assert any("（无联系点）" in line for line in lines)

    # Figures of days before --since are left out.
    tomorrow = (local_day(now()) + timedelta(days=1)).isoformat()
    code, out, _ = await qr(stack, "stats", "--since", tomorrow)
    assert code == 0
    assert out.splitlines()[-1].split()[-4:] == ["合计", "0", "0", "0"]
    assert build_parser().parse_args(["qr", "stats", "--since", "2026-05-01"]).since == date(2026, 5, 1)


async def test_figures_use_the_beijing_day_and_survive_the_first_insert_race(stack: Stack) -> None:
    point = await ContactPoint.get(key="hz-ent-1")
    late_utc = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 00:30 on 2 March in Beijing
    assert local_day(late_utc) == date(2026, 3, 2)
    await record_scan(point, late_utc, new_follower=True)
    row = await ContactPointDaily.get(point_key="hz-ent-1")
    assert row.day == date(2026, 3, 2)
    # Many first events of a day at once: one row, every increment counted.
    moment = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    await asyncio.gather(*(record_scan(point, moment, new_follower=False) for _ in range(20)))
    rows = await ContactPointDaily.filter(point_key="hz-ent-1", day=date(2026, 3, 5))
    assert [r.scans for r in rows] == [20]
    # The lost insert rolls back to a savepoint only: the caller's transaction (the inbox's) goes on.
    async with in_transaction():
        with pytest.raises(IntegrityError):
            async with in_transaction():
                await ContactPointDaily.create(point_key="hz-ent-1", day=date(2026, 3, 5))
        await record_scan(point, moment, new_follower=False)
    assert (await ContactPointDaily.get(point_key="hz-ent-1", day=date(2026, 3, 5))).scans == 21
    report = await figures(date(2026, 3, 2), date(2026, 3, 2))
    ent = next(r for r in report.rows if r.key == "hz-ent-1")
    assert (ent.scans, ent.new_followers, ent.new_cases) == (1, 1, 0)


def test_table_aligns_chinese_by_display_width() -> None:
    table = format_table(["key", "名称", "n"], [["a", "湖州", 1], ["bb", "x", 22]], numeric_from=2)
    lines = table.splitlines()
    assert lines[1] == "a    湖州   1"
    assert lines[2] == "bb   x     22"


# ---- the real command, end to end ----------------------------------------------------------------


@contextlib.contextmanager
def fake_platform_thread(platform: FakePlatform) -> Iterator[str]:
    """The fake WeChat platform served from a thread, for `main()` (which runs its own event loop)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_fake_platform(platform))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_mashang_qr_commands_end_to_end(tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    platform = FakePlatform(apps={"wxcli0000000001": "cli-secret", "wxminidemo000000": "demo-mini-secret"})
    with fake_platform_thread(platform) as fake:
        config = tmp_path / "config.toml"
        config.write_text(
            f"""
[database]
url = "sqlite://{tmp_path / "cli.sqlite3"}"
[redis]
url = "{redis_url}"
key_prefix = "test-cli-{uuid.uuid4().hex[:8]}:"
[wechat]
app_id = "wxcli0000000001"
app_secret = "cli-secret"
api_base_url = "{fake}/wechat"
[miniprogram]
api_base_url = "{fake}/wechat"
""",
            encoding="utf-8",
        )
        base = ["--config", str(config)]
        assert main([*base, "roster", "import", str(Path(__file__).parent.parent / "roster.example.toml")]) == 0
        assert main([*base, "qr", "make", "--all"]) == 0
        assert main([*base, "qr", "make", "--all"]) == 0
        assert len(platform.calls_to("/cgi-bin/qrcode/create")) == 4
        assert main([*base, "qr", "make", "hz-hospital-1", "no-such"]) == 2
        assert main([*base, "qr", "revoke", "hz-ent-1"]) == 0
        assert main([*base, "qr", "stats"]) == 0
        captured = capsys.readouterr()
        assert "未知联系点：no-such" in captured.err
        assert "合计" in captured.out
        assert "联系点扫码统计（北京时间，有记录以来 至今天）" in captured.out
        assert "已停用" in captured.out


def test_qr_make_with_the_demo_configuration_asks_for_demo_and_then_uses_the_fake_platform(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli.main import demo_config
    from bot.config import load_config

    monkeypatch.chdir(tmp_path)  # no config.toml here: the example's demo values, as after `make run`
    monkeypatch.setenv("MASHANG_DATABASE_URL", f"sqlite://{tmp_path / 'demo.sqlite3'}")
    monkeypatch.setenv("MASHANG_REDIS_URL", redis_url)
    monkeypatch.setenv("MASHANG_REDIS_KEY_PREFIX", f"test-demo-qr-{uuid.uuid4().hex[:8]}:")
    roster = str(Path(__file__).parent.parent / "roster.example.toml")
    assert main(["roster", "import", roster]) == 0
    # The demo credentials would go to the real WeChat: refused at once, saying what to do.
    assert main(["qr", "make", "hz-hospital-1"]) == 2
    refused = capsys.readouterr().err
    assert "wechat.app_secret" in refused
    assert "--demo" in refused
    # A mini-program code sends the mini-program's credentials: those are the ones named.
    assert main(["qr", "make", "hz-hospital-1", "--kind", "wxa"]) == 2
    refused = capsys.readouterr().err
    assert "miniprogram.app_id, miniprogram.app_secret" in refused
    assert "wechat." not in refused
    assert main(["qr", "stats"]) == 0  # nothing here talks to WeChat: no refusal
    # A poster of a point without a code would have to make one: refused up front too.
    assert main(["qr", "poster", "hz-hospital-1", "--out", str(tmp_path / "posters")]) == 2
    refused = capsys.readouterr().err
    assert "hz-hospital-1 还没有二维码" in refused
    assert "--demo" in refused
    # --demo: the fake platform of `mashang serve --demo`, found on the [simulator] port.
    platform = FakePlatform.for_config(demo_config(load_config(None)))
    with fake_platform_thread(platform) as fake:
        monkeypatch.setenv("MASHANG_SIMULATOR_PORT", fake.rsplit(":", 1)[1])
        assert main(["qr", "make", "--demo", "hz-hospital-1"]) == 0
    assert len(platform.calls_to("/cgi-bin/qrcode/create")) == 1
    assert "hz-hospital-1" in capsys.readouterr().out
    # Once the code exists, its poster needs no WeChat: made with the demo configuration as it is.
    assert main(["qr", "poster", "hz-hospital-1", "--out", str(tmp_path / "posters")]) == 0
    assert (tmp_path / "posters" / "hz-hospital-1.png").exists()
