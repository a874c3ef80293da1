"""`mashang topic create|close|list`: 码上商量 consultation topics from the command line.

The domain is handlers/topics; the outcome's subscribe messages are queued as jobs, which the running
service (`mashang serve`) sends. Exit codes: 0 done, 1 refused (the message says why), 2 a bad option.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Config


def _day(text: str) -> date:
    from handlers.texts import topics as texts

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{texts.BAD_DATE}：{text}") from None


def _points(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_topic_parser(commands: Any) -> None:
    from handlers.texts import topics as texts

    parser = commands.add_parser("topic", help="码上商量：议题（开设、结束、列表）", description="码上商量议题。")
    parser.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="topic_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help=texts.CREATE_HELP, description=texts.CREATE_HELP)
    create.add_argument("key", help=texts.KEY_HELP)
    create.add_argument("--title", required=True, help="标题（最多 100 字）")
    create.add_argument("--body", required=True, help="说明：请群众就什么发表意见")
    create.add_argument(
        "--until", required=True, type=_day, metavar="YYYY-MM-DD", help="征集截止日（北京时间，含当天）"
    )
    create.add_argument("--points", type=_points, default=[], metavar="K1,K2", help="张贴议题码的联系点代号，逗号分隔")
    close = actions.add_parser("close", help=texts.CLOSE_HELP, description=texts.CLOSE_HELP)
    close.add_argument("key", help="议题代号")
    close.add_argument("--summary", required=True, help="结果说明：公布在议题页，并发给参与者")
    actions.add_parser("list", help=texts.LIST_HELP, description=texts.LIST_HELP)
    code = actions.add_parser("code", help=texts.CODE_HELP, description=texts.CODE_HELP)
    code.add_argument("key", help="议题代号")
    code.add_argument("--out", default=".", help="输出目录（默认当前目录）")
    code.add_argument("--size", choices=["a4", "a5"], default="a4", help="海报尺寸")
    code.add_argument("--format", dest="fmt", choices=["png", "pdf"], default="png", help="海报格式")
    code.add_argument(
        "--demo", action="store_true", help="向运行中的 `mashang serve --demo` 的模拟微信平台要码，而不是真实微信"
    )
    for sub in (create, close, code):
        sub.add_argument("--config", dest="sub_config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


async def run_topic(
    config: Config, args: argparse.Namespace, *, out: IO[str] | None = None, init_database: bool = True
) -> int:
    from tortoise.transactions import in_transaction

    from handlers.texts import topics as texts
    from handlers.topics import topics
    from models.db import close_db, init_db

    out = out or sys.stdout
    if init_database:
        await init_db(config.database.url, auto_upgrade=config.database.auto_upgrade)
    try:
        if args.topic_command == "create":
            topic = await topics.create_topic(args.key, args.title, args.body, args.until, args.points)
            lines = [texts.created(topic.key, topic.title, topic.until)]
        elif args.topic_command == "close":
            async with in_transaction():
                lines = (await topics.close_topic(args.key, args.summary)).lines
        elif args.topic_command == "code":
            lines = await _code_and_poster(config, args)
        else:
            lines = await topics.list_lines()
    except topics.TopicError as exc:
        print(str(exc), file=sys.stderr if out is sys.stdout else out)
        return 1
    finally:
        if init_database:
            await close_db()
    print("\n".join(lines), file=out)
    return 0


async def _code_and_poster(config: Config, args: argparse.Namespace) -> list[str]:
    """The topic's mini-program code (scene tp=<key>, opening `[miniprogram] topic_page`) and its poster,
    through the qr machinery the contact points' posters use. Codes never expire: made again each time."""
    import asyncio
    from pathlib import Path

    from bot.cli.services import cli_services
    from handlers.texts import topics as texts
    from handlers.topics import topics
    from models.topics import ConsultationTopic
    from qr.fonts import find_cjk_font
    from qr.posters import PosterSpec, poster_bytes
    from qr.scenes import topic_scene

    topic = await ConsultationTopic.get_or_none(key=args.key)
    if topic is None:
        raise topics.TopicError(texts.not_found(args.key))
    font = await asyncio.to_thread(find_cjk_font, config.poster.font_path or None)
    async with cli_services(config, init_database=False) as services:
        image = await services.miniprogram.get_unlimited_code(topic_scene(topic.key), config.miniprogram.topic_page)
    folder = Path(args.out)
    code_path = folder / f"{topic.key}-topic-wxa.jpg"
    spec = PosterSpec(
        committee_name=config.poster.committee_name,
        contact_point_name=topic.title,
        contact_point_key=f"tp={topic.key}",
        headline=texts.POSTER_HEADLINE,
        instructions=texts.poster_instructions(topic.until),
        code_png=image,
        size=args.size,
    )
    poster = await asyncio.to_thread(poster_bytes, spec, args.fmt, font)
    poster_path = folder / f"{topic.key}-topic-poster-{args.size}.{args.fmt}"

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        code_path.write_bytes(image)
        poster_path.write_bytes(poster)

    await asyncio.to_thread(write)
    return [texts.code_written(str(code_path.resolve()), str(poster_path.resolve()))]
