"""The `mashang` command: serve, roster import, simulate, qr, db, import, report, staff, topic (and more to come)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import examples
from bot.cli import argparse_zh
from bot.config import DEMO_SLA, Config, ConfigError, demo_credentials, load_config, local_url

log = logging.getLogger("mashang")


def demo_config(config: Config) -> Config:
    """Point every WeChat/WeCom base URL at the local fake platform (never used in production)."""
    base = config.simulator.url
    return replace(
        config,
        wechat=replace(config.wechat, api_base_url=f"{base}/wechat"),
        miniprogram=replace(config.miniprogram, api_base_url=f"{base}/wechat"),
        wecom=replace(config.wecom, api_base_url=f"{base}/wecom"),
    )


def demo_clocks(config: Config) -> Config:
    """`serve --demo`: the short clocks of DEMO_SLA instead of [sla], so that a return visit comes
    while somebody tries the service."""
    return replace(config, sla=DEMO_SLA)


def serve_banner(config: Config, listening: str, demo: bool) -> list[str]:
    """What `mashang serve` prints once it listens: where (the socket it really bound), the callback
    addresses to configure (public_base_url + each path), and in the demo the fake platform and clocks."""
    from bot.api import PREFIX as API_PREFIX
    from handlers.cases.case_page import PATH_PREFIX
    from handlers.texts.citizen import duration_zh

    base = config.server.public_base_url.rstrip("/")
    lines = [
        f"码上商已启动，监听 {listening}（[server] host、port）",
        f"  公众号回调：{base}/wechat/callback",
        f"  企业微信应用回调：{base}/wecom/callback",
        f"  企业微信智能机器人回调：{base}/wecom/bot",
        f"  小程序接口：{base}{API_PREFIX}",
        f"  群众诉求页面：{base}{PATH_PREFIX}<token>",
        f"  网页控制台：{base}/console（先设密码：mashang staff set-password <工作人员key>）",
    ]
    if base != listening:
        lines.insert(1, f"  对外地址（[server] public_base_url）：{base}")
    if demo:
        sla = config.sla
        lines += [
            f"  演示模式：模拟微信/企业微信平台在 {config.simulator.url}（[simulator] host、port）",
            f"  演示时钟：交办期限 {duration_zh(sla.assign_within)}、答复期限 {duration_zh(sla.reply_within)}；"
            f"答复 {duration_zh(sla.return_visit_after)} 后发回访问卷，"
            f"{duration_zh(sla.return_visit_timeout)} 内未答复转电话回访（生产环境按 [sla]）",
            "  在另一个终端试一试：.venv/bin/mashang simulate"
            "（与本服务用同一份配置：同样的 --config、MASHANG_* 环境变量）",
        ]
    return lines


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where it is installed (Linux, macOS): the same asyncio API with a faster loop, which
    the callback benchmark measures; the standard loop elsewhere."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        asyncio.run(main)
        return
    uvloop.run(main)


def tune_garbage_collector() -> None:
    """Everything built at start (models, routes, the roster, the libraries) lives as long as the process:
    freeze it out of the collector's full passes, and collect the youngest objects every 7,000
    allocations instead of 700, so that a callback's short-lived objects die before they are scanned.
    The collector showed as about a tenth of the CPU under a burst of callbacks."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)


async def _serve(config: Config, demo: bool) -> None:
    from bot.app import create_app, server_options

    runners: list[web.AppRunner] = []
    # One setting for both sites: the simulator polls the fake platform several times a second, and
    # with aiohttp's default access log those lines would bury everything else the server prints.
    access_log = logging.getLogger("aiohttp.access") if config.server.access_log else None
    if demo:
        from bot.demo.fake_platform import FakePlatform, create_fake_platform

        platform = FakePlatform.for_config(config, callback_base_url=config.server.public_base_url)
        fake_runner = web.AppRunner(create_fake_platform(platform), access_log=access_log)
        await fake_runner.setup()
        await web.TCPSite(fake_runner, config.simulator.host, config.simulator.port).start()
        runners.append(fake_runner)
    app_runner = web.AppRunner(
        create_app(config), handle_signals=False, access_log=access_log, **server_options(config)
    )
    await app_runner.setup()
    await web.TCPSite(app_runner, config.server.host, config.server.port).start()
    runners.append(app_runner)
    tune_garbage_collector()
    host, port = app_runner.addresses[0][:2]
    print("\n".join(serve_banner(config, local_url(str(host), int(port)), demo)), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("正在停止……", flush=True)
    for runner in reversed(runners):
        await runner.cleanup()


async def _roster_import(config: Config, path: str | Path) -> int:
    from handlers.admin.roster import RosterError, import_roster
    from models.db import close_db, init_db

    await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
    try:
        report = await import_roster(path)
    except RosterError as exc:
        print(f"花名册导入失败：{exc}", file=sys.stderr)
        return 2
    finally:
        await close_db()
    print(f"已导入花名册 {path}：{report.summary()}" + ("" if report.changed else "（没有变化）"))
    return 0


async def _member_bind_code(config: Config, member_key: str) -> int:
    from handlers.cases.actions import CommandError
    from handlers.routers.member import create_bind_code
    from models.db import close_db, init_db

    await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
    try:
        bind = await create_bind_code(member_key)
        await bind.fetch_related("member")
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        await close_db()
    from handlers.binding import display
    from models.tracking import LOCAL_TZ

    code = display(bind.code)
    print(f"委员 {bind.member.name}（{member_key}）的绑定码：{code}")

    expires = f"北京时间 {bind.expires_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}"
    print(f"请委员在公众号里发送「绑定 {code}」（空格、大小写均可），{expires} 前有效，只能使用一次。")
    return 0


def _demo_credentials_to_send(config: Config, args: argparse.Namespace) -> list[str]:
    """The demo credentials (config.example.toml's values) that this command would send to the real
    WeChat/WeCom: `serve` sends them all, `qr make` without --url the official account's or the
    mini-program's. Raises ConfigError when the packaged example cannot be read."""
    if getattr(args, "demo", False):
        return []  # pointed at the fake platform
    if args.command == "serve":
        return demo_credentials(config)
    if args.command == "qr" and args.qr_command == "make" and not args.url:
        from bot.cli.qr import QR_CREDENTIALS

        return demo_credentials(config, {"miniprogram" if args.kind == "wxa" else "wechat": QR_CREDENTIALS})
    return []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mashang",
        description="码上商：群众扫码反映的问题，从留言到办结回访。配置文件 config.toml（或 --config，"
        "可以写在任何子命令后面），每一项都可以用环境变量 MASHANG_<段>_<项> 覆盖。",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="配置文件（默认 config.toml，没有时用 config.example.toml 的演示值）"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="输出调试日志")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="子命令")

    serve = commands.add_parser(
        "serve",
        help="在一个进程里运行 HTTP 服务和全部后台任务",
        description="在一个进程里运行 HTTP 服务和全部后台任务（发送队列、期限计时、回访……）。",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="试用：同时启动模拟微信/企业微信平台并让服务连它，期限用几分钟的演示时钟",
    )

    roster = commands.add_parser(
        "roster",
        help="花名册：联系点、委员、工作人员、部门、类别",
        description="花名册：联系点、委员、工作人员、部门、类别。",
    )
    roster_commands = roster.add_subparsers(dest="roster_command", required=True, metavar="ACTION", title="操作")
    roster_import = roster_commands.add_parser(
        "import",
        help="导入 TOML 花名册（新增或更新，重复导入不改变数据）",
        description="导入 TOML 花名册：没有的新增，变了的更新；重复导入同一文件不改变任何数据。",
    )
    roster_source = roster_import.add_mutually_exclusive_group(required=True)
    roster_source.add_argument("path", nargs="?", metavar="FILE", help="花名册文件，如 roster.example.toml")
    roster_source.add_argument("--example", action="store_true", help="随 mashang 安装的示例花名册（演示用的联系点）")

    member = commands.add_parser("member", help="委员", description="委员。")
    member_commands = member.add_subparsers(dest="member_command", required=True, metavar="ACTION", title="操作")
    bind_code = member_commands.add_parser(
        "bind-code",
        help="为没有企业微信的委员生成一次性绑定码，委员在公众号发送「绑定 <绑定码>」",
        description="为没有企业微信的委员生成一次性绑定码（3 天内有效），委员在公众号发送「绑定 <绑定码>」。",
    )
    bind_code.add_argument(
        "member_key", metavar="MEMBER", help="委员在花名册里的代号（如 m-zhao），或姓名、企业微信 userid"
    )

    simulate = commands.add_parser(
        "simulate",
        help="在终端里扮演群众、工作人员和委员：扫码、留言，看微信和企业微信里会显示什么",
        description="在终端里扮演群众、工作人员和委员，对着正在运行的 `mashang serve --demo` 操作；"
        "读与服务相同的配置（--config、MASHANG_* 环境变量）。命令见 README，或在模拟器里输入 /help。",
    )
    simulate.add_argument("--openid", default="o-sim-citizen-1", help="模拟群众的 openid（默认 o-sim-citizen-1）")
    simulate.add_argument(
        "--mode",
        choices=["plain", "compat", "safe"],
        default="safe",
        help="公众号回调模式：明文、兼容、安全（默认 safe）",
    )
    simulate.add_argument("--platform", metavar="URL", help="模拟平台的地址（默认按 [simulator] host、port）")
    simulate.add_argument("--script", metavar="FILE", help="从这个文件读命令，而不是从终端")
    simulate.add_argument(
        "--miniprogram",
        action="store_true",
        help="扮演小程序用户（通过 /api/v1）：扫码、提交诉求、评价、议题意见和附议",
    )
    simulate.add_argument(
        "--name", default="sim", metavar="NAME", help="小程序用户的演示登录名（登录凭证 demo-<name>，默认 sim）"
    )

    from bot.cli.qr import add_qr_parser

    add_qr_parser(commands)
    from bot.cli.db import add_db_parser

    add_db_parser(commands)
    from bot.cli.imports import add_import_parser

    add_import_parser(commands)
    from bot.cli.report import add_report_parser

    add_report_parser(commands)
    from bot.cli.wecom import add_wecom_parser

    add_wecom_parser(commands)
    from bot.cli.jobs import add_jobs_parser

    add_jobs_parser(commands)
    from bot.cli.staff import add_staff_parser

    add_staff_parser(commands)
    from bot.cli.topics import add_topic_parser

    add_topic_parser(commands)
    _config_everywhere(parser)
    return parser


def _config_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` after any command too (`mashang simulate --config FILE`, `mashang qr make
    --config FILE ...`), so that every command reads the same configuration as `serve` however it is
    typed."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("--config" in a.option_strings for a in sub._actions):
                    sub.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
                _config_everywhere(sub)


def main(argv: list[str] | None = None) -> int:
    with argparse_zh.chinese():  # argparse's own headings, usage line and errors too
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    config_path = getattr(args, "sub_config", None) or args.config
    try:
        config = load_config(config_path)
        demo = _demo_credentials_to_send(config, args)
    except ConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2
    from models.migrate import MigrationError, PendingMigrationsError

    try:
        return _run_command(parser, args, config, demo)
    except PendingMigrationsError as exc:
        command = "mashang db upgrade" + (f" --config {config_path}" if config_path else "")
        print(f"无法启动：{exc}（[database] auto_upgrade = false）；请先备份数据库，再运行 {command}", file=sys.stderr)
        return 2
    except MigrationError as exc:
        print(f"无法启动：{exc}", file=sys.stderr)
        return 1


def _run_command(parser: argparse.ArgumentParser, args: argparse.Namespace, config: Config, demo: list[str]) -> int:
    """`demo`: the demo credentials this command would send to the real WeChat/WeCom (refused)."""
    if args.command == "serve":
        if args.demo:
            config = demo_clocks(demo_config(config))
        elif demo:
            print(
                f"配置错误：{', '.join(demo)}：仍是 config.example.toml 的演示值，却连着真实的微信/企业微信；"
                "请在 config.toml 或环境变量 MASHANG_<段>_<项> 里填写真实的值，或用 `mashang serve --demo` 试用",
                file=sys.stderr,
            )
            return 2
        try:
            run_event_loop(_serve(config, args.demo))
        except OSError as exc:
            print(f"无法启动：{exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "roster":
        if not args.example:
            return asyncio.run(_roster_import(config, args.path))
        try:
            with examples.example_path(examples.ROSTER) as path:
                return asyncio.run(_roster_import(config, path))
        except examples.ExampleMissingError as exc:
            print(f"花名册导入失败：{exc}", file=sys.stderr)
            return 2
    if args.command == "member":
        return asyncio.run(_member_bind_code(config, args.member_key))
    if args.command == "simulate" and args.miniprogram:
        from bot.demo.mini_simulator import run_mini_simulator

        return asyncio.run(run_mini_simulator(config, args))
    if args.command == "simulate":
        from bot.demo.simulator import run_simulator

        return asyncio.run(run_simulator(config, args))
    if args.command == "qr":
        from bot.cli.qr import run_qr

        if getattr(args, "demo", False):
            config = demo_config(config)
        elif demo:
            print(
                f"配置错误：{', '.join(demo)}：仍是 config.example.toml 的演示值，却连着真实的微信；请填写真实的值，"
                "或加 --demo 向正在运行的 `mashang serve --demo` 的模拟平台要码"
                "（如 mashang qr make --demo hz-hospital-1）",
                file=sys.stderr,
            )
            return 2

        return asyncio.run(run_qr(config, args))
    if args.command == "db":
        from bot.cli.db import run_db

        return asyncio.run(run_db(config, args.db_command))
    if args.command == "import":
        from bot.cli.imports import run_import

        return asyncio.run(run_import(config, args))
    if args.command == "report":
        from bot.cli.report import run_report

        return asyncio.run(run_report(config, args))
    if args.command == "wecom":
        from bot.cli.wecom import run_wecom

        return asyncio.run(run_wecom(demo_config(config) if args.demo else config, args))
    if args.command == "jobs":
        from bot.cli.jobs import run_jobs_command

        return asyncio.run(run_jobs_command(config, args))
    if args.command == "staff":
        from bot.cli.staff import run_staff

        return asyncio.run(run_staff(config, args))
    if args.command == "topic":
        from bot.cli.topics import run_topic

        # `topic code --demo`: the demo's configuration (its fake platform), as `wecom create-chat --demo`
        return asyncio.run(run_topic(demo_config(config) if getattr(args, "demo", False) else config, args))
    parser.error(f"未知的命令 {args.command}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
