"""`mashang qr …`: codes and posters for contact points, revocation, scan figures.

    mashang qr make <key>...|--all [--kind oa|wxa|url] [--expire S] [--out DIR] [--url URL]
    mashang qr poster <key>...|--all [--size a4|a5] [--format png|pdf] [--out DIR] [--kind oa|wxa]
    mashang qr revoke <key>...
    mashang qr stats [--since YYYY-MM-DD] [--until YYYY-MM-DD]

Exit codes: 0 done, 2 something to fix on our side (unknown key, limit, font, bad option),
1 WeChat or the network failed (codes made so far are kept; run the command again).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import unicodedata
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from bot.cli.services import CliServices
    from bot.config import Config
    from handlers.admin.qr_codes import MakeReport

DEFAULT_CODES_DIR = "data/qr"
DEFAULT_POSTERS_DIR = "data/posters"
PROCESS_WORKERS_FROM = 20  # smaller batches render in threads: starting processes costs more


# ---- argument parsing ----------------------------------------------------------------------------


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text!r}") from None


def _seconds(text: str) -> int:
    from models.timeutil import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"应为整秒数：{text!r}")
    return int(value)


QR_CREDENTIALS = ("app_id", "app_secret")  # what making a code sends to WeChat (official account or mini-program)


def _add_demo_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo",
        action="store_true",
        help="向正在运行的 `mashang serve --demo` 的模拟微信平台要码，而不是向真实微信",
    )


def add_qr_parser(commands: Any) -> None:
    """Add `qr` and its actions to the `mashang` sub-command parsers."""
    qr = commands.add_parser(
        "qr", help="联系点的二维码和海报、停用、扫码统计", description="联系点的二维码和海报、停用、扫码统计。"
    )
    actions = qr.add_subparsers(dest="qr_command", required=True, metavar="ACTION", title="操作")

    make = actions.add_parser(
        "make",
        help="为联系点生成（或复用）二维码",
        description="为联系点生成（或复用）二维码。公众号永久二维码只生成一次、之后复用；微信最多允许 100,000 个。",
    )
    make.add_argument("keys", nargs="*", metavar="KEY", help="联系点代号（花名册里的 key）")
    make.add_argument("--all", action="store_true", help="全部在用的联系点")
    make.add_argument(
        "--kind",
        choices=["oa", "wxa", "url"],
        default="oa",
        help="oa：公众号二维码（默认）；wxa：小程序码 PNG；url：公众号二维码地址的 PNG 和 SVG",
    )
    make.add_argument(
        "--expire",
        type=_seconds,
        metavar="SECONDS",
        help="临时公众号二维码的有效期（最长 2592000 秒 = 30 天；也可以写 '7d'）",
    )
    make.add_argument(
        "--out",
        help=f"文件存放的文件夹（默认 {DEFAULT_CODES_DIR}）；公众号二维码只在给出本项时写成 PNG 和 SVG",
    )
    make.add_argument("--url", help="与 --kind url 一起、不写联系点时：为这个网址生成普通二维码")
    _add_demo_flag(make)

    poster = actions.add_parser(
        "poster",
        help="可打印的海报（A4/A5，PNG 300 dpi 或 PDF）",
        description="可打印的海报（A4/A5，PNG 300 dpi 或 PDF）。",
    )
    poster.add_argument("keys", nargs="*", metavar="KEY", help="联系点代号（花名册里的 key）")
    poster.add_argument("--all", action="store_true", help="全部在用的联系点，打包成一个 zip")
    poster.add_argument("--size", choices=["a4", "a5"], default="a4", help="纸张大小（默认 a4）")
    poster.add_argument("--format", dest="fmt", choices=["png", "pdf"], default="png", help="文件格式（默认 png）")
    poster.add_argument("--out", default=DEFAULT_POSTERS_DIR, help=f"存放海报的文件夹（默认 {DEFAULT_POSTERS_DIR}）")
    poster.add_argument(
        "--kind",
        choices=["oa", "wxa"],
        default="oa",
        help="oa：公众号二维码（默认）；wxa：小程序码",
    )
    poster.add_argument(
        "--codes-dir",
        default=DEFAULT_CODES_DIR,
        metavar="DIR",
        help=f"小程序码 PNG 存放的文件夹（默认 {DEFAULT_CODES_DIR}）",
    )
    poster.add_argument("--workers", type=int, default=2, metavar="N", help="同时绘制海报的进程数（默认 2）")
    _add_demo_flag(poster)

    revoke = actions.add_parser(
        "revoke",
        help="停用联系点：之后扫它的码会看到停用说明",
        description="停用联系点：之后扫它的码会看到「此联系点已停止使用」并转入通用入口。",
    )
    revoke.add_argument("keys", nargs="+", metavar="KEY", help="联系点代号（花名册里的 key）")

    stats = actions.add_parser(
        "stats", help="每个联系点的扫码、新关注和新诉求", description="每个联系点的扫码次数、新关注和新诉求。"
    )
    stats.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="从这一天起（北京时间）")
    stats.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="到这一天为止（含这一天）")


# ---- output helpers ------------------------------------------------------------------------------


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric_from: int | None = None) -> str:
    """Columns padded by display width (a Chinese character takes two cells); numbers right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(_display_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _display_width(cell))
            right = numeric_from is not None and i >= numeric_from
            parts.append(pad + cell if right else cell + pad)
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    # disable=None: a bar on a terminal, nothing when the output is a file or a pipe.
    return tqdm(total=total, desc=desc, unit="个", file=sys.stderr, disable=None, leave=False)


# ---- commands ------------------------------------------------------------------------------------


def _require_selection(args: argparse.Namespace) -> None:
    from handlers.admin.qr_codes import QrError

    if args.all and args.keys:
        raise QrError("请指定联系点代号或 --all，二者只能选一")
    if not args.all and not args.keys:
        raise QrError("请指定联系点代号，或用 --all 表示全部")


def _write_plain_codes(payload: str, stem: Path) -> tuple[Path, Path]:
    from qr.codes import qr_png, qr_svg

    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")
    png.write_bytes(qr_png(payload))
    svg.write_bytes(qr_svg(payload))
    return png, svg


async def _make_url_only(args: argparse.Namespace, out: TextIO) -> int:
    from handlers.admin.qr_codes import QrError

    if args.kind != "url" or args.keys or args.all or args.expire is not None:
        raise QrError("--url 只能与 --kind url 一起使用，且不带联系点")
    stem = Path(args.out or DEFAULT_CODES_DIR) / f"url-{hashlib.sha1(args.url.encode()).hexdigest()[:10]}"
    png, svg = await asyncio.to_thread(_write_plain_codes, args.url, stem)
    print(f"已生成二维码：{png}  {svg}", file=out)
    return 0


async def _codes(
    services: CliServices, points: Sequence[Any], kind: str, expire: int | None, out_dir: str, desc: str
) -> MakeReport:
    """Make or reuse the code of each point: kind oa|url (official account) or wxa (mini-program)."""
    from handlers.admin.qr_codes import QrError, ensure_oa_codes, ensure_wxa_codes, make_temp_codes

    bar = _progress(len(points), desc)
    try:
        if kind == "wxa":
            if expire is not None:
                raise QrError("小程序码长期有效，不能使用 --expire")
            return await ensure_wxa_codes(
                services.miniprogram,
                points,
                page=services.config.miniprogram.page,
                out_dir=out_dir,
                progress=bar.update,
            )
        if expire is not None:
            return await make_temp_codes(services.wechat, points, expire, progress=bar.update)
        return await ensure_oa_codes(services.wechat, points, progress=bar.update)
    finally:
        bar.close()


async def _make(services: CliServices, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from handlers.admin.qr_codes import check_expire, find_points, permanent_codes_used
    from models.qr import QR_KIND_ZH, QrKind
    from models.tracking import LOCAL_TZ

    if args.expire is not None:
        check_expire(args.expire)
    points = await find_points(args.keys, all_active=args.all)
    if not points:
        print("没有可制码的联系点", file=out)
        return 0
    out_dir = args.out or DEFAULT_CODES_DIR
    report = await _codes(services, points, args.kind, args.expire, out_dir, "制码")
    for warning in report.warnings:
        print(warning, file=err)
    kind = QrKind.WXA if args.kind == "wxa" else QrKind.OA_TEMP if args.expire is not None else QrKind.OA
    summary = (
        f"{QR_KIND_ZH[kind]}：{len(report.results)} 个"
        f"（新建 {report.created}，复用 {report.reused}）"
    )
    if kind == QrKind.OA:
        from handlers.admin.qr_codes import PERMANENT_QR_LIMIT

        summary += f"；永久码已用 {await permanent_codes_used()}/{PERMANENT_QR_LIMIT}"
    print(summary, file=out)

    rows: list[list[str]] = []
    for result in report.results:
        code, point = result.code, result.point
        status = "新建" if result.created else "复用"
        if kind == QrKind.WXA:
            rows.append([point.key, point.name, status, code.file_path or ""])
            continue
        if kind == QrKind.OA_TEMP:
            until = code.expire_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if code.expire_at else ""
            status = f"有效至 {until}"
        shown = code.url or ""
        if args.kind == "url" or args.out:  # the code as images, like the other kinds
            stem = Path(out_dir) / (point.key if kind == QrKind.OA else f"{point.key}-temp-{code.id}")
            png, svg = await asyncio.to_thread(_write_plain_codes, code.url or "", stem)
            shown = f"{png} {svg}" if args.kind == "url" else f"{code.url or ''} {png} {svg}"
        rows.append([point.key, point.name, status, shown])
    if args.kind in ("url", "wxa"):
        last = "文件"
    else:
        last = "二维码地址、文件" if args.out else "二维码地址"
    print(format_table(["联系点代号", "名称", "状态", last], rows), file=out)
    return 0


async def _refuse_demo_credentials(services: CliServices, points: Sequence[Any], kind: str) -> None:
    """A poster of a point whose code was never made needs WeChat to make it: with the demo
    credentials, say so before any call (as `qr make` does), not after a DNS failure."""
    from bot.config import demo_credentials
    from handlers.admin.qr_codes import QrError, points_without_code
    from models.qr import QrKind

    section = "miniprogram" if kind == "wxa" else "wechat"
    demo = demo_credentials(services.config, {section: QR_CREDENTIALS})
    if not demo:
        return
    missing = await points_without_code(QrKind.WXA if kind == "wxa" else QrKind.OA, points)
    if missing:
        keys = "、".join(point.key for point in missing[:5]) + ("等" if len(missing) > 5 else "")
        raise QrError(
            f"联系点 {keys} 还没有二维码，制码要向微信申请，而 {', '.join(demo)} 仍是演示值：试用时加 --demo，"
            "正式使用请在 config.toml 填写真实的 AppID 和 AppSecret"
        )


async def _poster(services: CliServices, args: argparse.Namespace, font: str, out: TextIO, err: TextIO) -> int:
    from handlers.admin.qr_codes import find_points, read_wxa_png
    from qr.batch import WorkerKind, render_posters_to_dir, render_posters_zip
    from qr.posters import PosterSpec

    points = await find_points(args.keys, all_active=args.all)
    if not points:
        print("没有可打印海报的联系点", file=out)
        return 0
    await _refuse_demo_credentials(services, points, args.kind)
    report = await _codes(services, points, args.kind, None, args.codes_dir, "制码")
    for warning in report.warnings:
        print(warning, file=err)
    config = services.config.poster
    specs: list[PosterSpec] = []
    for result in report.results:
        common: dict[str, Any] = {
            "committee_name": config.committee_name,
            "contact_point_name": result.point.name,
            "contact_point_key": result.point.key,
            "headline": config.headline,
            "instructions": config.instructions,
            "size": args.size,
        }
        if args.kind == "wxa":
            specs.append(PosterSpec(code_png=await read_wxa_png(result.code), **common))
        else:
            specs.append(PosterSpec(payload=result.code.url, **common))

    bar = _progress(len(specs), "海报")
    workers = max(1, args.workers)
    worker_kind: WorkerKind = "process" if len(specs) >= PROCESS_WORKERS_FROM else "thread"

    def progress(done: int, total: int) -> None:
        bar.update(1)

    try:
        if args.all:
            target = Path(args.out) / f"posters-{args.kind}-{args.size}-{args.fmt}.zip"
            path = await asyncio.to_thread(
                render_posters_zip, specs, args.fmt, font, target, progress, workers, worker_kind
            )
            written = [path]
        else:
            written = await asyncio.to_thread(
                render_posters_to_dir, specs, args.fmt, font, args.out, progress, workers, worker_kind
            )
    finally:
        bar.close()
    what = f"已生成 {len(specs)} 张海报（{args.size.upper()}，{args.fmt.upper()}）"
    if args.all:
        print(f"{what}，打包为：{written[0]}", file=out)
    else:
        print(f"{what}：", file=out)
        for path in written:
            print(f"  {path}", file=out)
    return 0


async def _revoke(args: argparse.Namespace, out: TextIO) -> int:
    from handlers.admin.qr_codes import revoke_points

    for result in await revoke_points(args.keys):
        point = result.point
        if result.already:
            print(f"{point.key} {point.name}：此前已停用", file=out)
        else:
            print(
                f"{point.key} {point.name}：已停用，{result.codes} 个码标记停用；"
                f"群众扫码将看到“此联系点已停止使用”并转入通用入口。请撤下该联系点的海报。",
                file=out,
            )
    return 0


async def _stats(args: argparse.Namespace, out: TextIO) -> int:
    from handlers.admin.qr_stats import figures

    report = await figures(args.since, args.until)
    since = args.since.isoformat() if args.since else "有记录以来"
    until = f"至 {args.until.isoformat()}" if args.until else "至今天"
    print(f"联系点扫码统计（北京时间，{since} {until}）", file=out)
    rows: list[list[Any]] = [
        [
            row.key or "-",
            row.name + ("（已停用）" if row.revoked else ""),
            row.scans,
            row.new_followers,
            row.new_cases,
        ]
        for row in report.rows
    ]
    total = report.total
    rows.append(["", total.name, total.scans, total.new_followers, total.new_cases])
    headers = ["联系点代号", "名称", "扫码", "新关注", "新诉求"]
    print(format_table(headers, rows, numeric_from=2), file=out)
    return 0


async def run_qr(
    config: Config,
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    init_database: bool = True,
) -> int:
    """Run one `mashang qr` action; the exit code is returned, errors are printed as one line.

    `init_database=False`: the caller has the database open already (tests, a running service)."""
    from bot.cli.services import cli_services
    from bot.config import demo_credentials
    from bot.outbound.wechat_api import WeChatAPIError, WeChatUnavailable
    from bot.redis_store import RedisStartError
    from handlers.admin.qr_codes import QrError
    from qr.fonts import FontMissingError, find_cjk_font
    from qr.scenes import SceneError

    out = out or sys.stdout
    err = err or sys.stderr
    command = args.qr_command
    try:
        if command == "make" and args.url:
            return await _make_url_only(args, out)
        if command in ("make", "poster"):
            _require_selection(args)
        font = ""
        if command == "poster":
            # Before any code is made: a poster without Chinese glyphs is useless.
            font = await asyncio.to_thread(find_cjk_font, config.poster.font_path or None)
        async with cli_services(config, init_database=init_database) as services:
            if command == "make":
                return await _make(services, args, out, err)
            if command == "poster":
                return await _poster(services, args, font, out, err)
            if command == "revoke":
                return await _revoke(args, out)
            if command == "stats":
                return await _stats(args, out)
        print(f"未知的 qr 子命令 {command}", file=err)
        return 2
    except (QrError, SceneError, FontMissingError) as exc:
        print(str(exc), file=err)
        return 2
    except (WeChatAPIError, WeChatUnavailable) as exc:
        print(f"微信接口失败，已生成的码均已保存，可重新运行：{exc}", file=err)
        if demo_credentials(config, {"wechat": QR_CREDENTIALS, "miniprogram": QR_CREDENTIALS}):
            print("这是演示配置：试用时加 --demo，向 `mashang serve --demo` 的模拟微信平台要码", file=err)
        return 1
    except RedisStartError as exc:
        print(f"Redis 无法启动：{exc}", file=err)
        return 1
