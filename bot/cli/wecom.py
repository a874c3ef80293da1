"""`mashang wecom create-chat`: the triage group chat, created through WeCom's appchat/create.

    mashang wecom create-chat --name NAME --owner USERID --members A,B,C [--chat-id ID] [--demo]

appchat/send reaches only chats the app created with appchat/create, never an ordinary group
(https://developer.work.weixin.qq.com/document/path/90248): this is how the `wecom.triage_chat_id`
to configure comes into being. Exit codes: 0 created, 2 something to fix (an option, the
configuration, what WeCom refused), 1 WeCom or Redis could not be reached.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any, TextIO

from handlers.texts import wecom_chat as texts

if TYPE_CHECKING:
    from bot.config import Config

WECOM_CREDENTIALS = ("corp_id", "secret")  # what creating a chat sends to WeCom
# appchat/create (https://developer.work.weixin.qq.com/document/path/90245): a name of at most 50
# characters, 2 to 2,000 members, a chat id of at most 32 letters and digits.
NAME_MAX = 50
MEMBERS = (2, 2000)
CHAT_ID = re.compile(r"[0-9A-Za-z]{1,32}")
# A WeCom userid: letters, digits and _-@. , 1 to 64 bytes (https://developer.work.weixin.qq.com/document/path/90195).
USERID = re.compile(r"[0-9A-Za-z_\-@.]{1,64}")


class ChatOptionError(ValueError):
    pass


def add_wecom_parser(commands: Any) -> None:
    """Add `wecom` and its actions to the `mashang` sub-command parsers."""
    wecom = commands.add_parser("wecom", help=texts.HELP)
    actions = wecom.add_subparsers(dest="wecom_command", required=True, metavar="ACTION")
    create = actions.add_parser("create-chat", help=texts.CREATE_HELP, description=texts.CREATE_DESCRIPTION)
    create.add_argument("--name", required=True, help=texts.NAME_HELP)
    create.add_argument("--owner", required=True, help=texts.OWNER_HELP)
    create.add_argument("--members", required=True, help=texts.MEMBERS_HELP)
    create.add_argument("--chat-id", default="", help=texts.CHAT_ID_HELP)
    create.add_argument("--demo", action="store_true", help=texts.DEMO_HELP)


def chat_members(owner: str, members: str) -> list[str]:
    """The owner first, then each member once (userids are case-insensitive), checked as WeCom checks them."""
    listed = [owner.strip(), *(m.strip() for m in re.split(r"[,，、\s]+", members))]
    chosen: dict[str, str] = {}
    for userid in listed:
        if not userid:
            continue
        if not USERID.fullmatch(userid):
            raise ChatOptionError(texts.bad_userid(userid))
        chosen.setdefault(userid.casefold(), userid)
    if len(chosen) < MEMBERS[0]:
        raise ChatOptionError(texts.too_few_members(len(chosen), MEMBERS[0]))
    if len(chosen) > MEMBERS[1]:
        raise ChatOptionError(texts.too_many_members(len(chosen), MEMBERS[1]))
    return list(chosen.values())


def _check(args: argparse.Namespace) -> tuple[str, list[str]]:
    name = args.name.strip()
    if not name:
        raise ChatOptionError(texts.name_missing())
    if len(name) > NAME_MAX:
        raise ChatOptionError(texts.name_too_long(NAME_MAX, len(name)))
    if args.chat_id and not CHAT_ID.fullmatch(args.chat_id):
        raise ChatOptionError(texts.bad_chat_id(args.chat_id, 32))
    return name, chat_members(args.owner, args.members)


async def run_wecom(
    config: Config, args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run one `mashang wecom` action; errors are printed as one line, the exit code returned."""
    from redis.exceptions import RedisError

    from bot.cli.services import cli_services
    from bot.config import demo_credentials
    from bot.outbound.wechat_api import WeChatAPIError, WeChatUnavailable, WeComClient
    from bot.redis_store import RedisStartError

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        name, members = _check(args)
    except ChatOptionError as exc:
        print(exc, file=err)
        return 2
    demo = demo_credentials(config, {"wecom": WECOM_CREDENTIALS})
    if demo:
        print(texts.demo_credentials(", ".join(demo)), file=err)
        return 2
    try:
        async with cli_services(config, init_database=False) as services:
            wecom = WeComClient(
                services.session,
                services.redis,
                corp_id=config.wecom.corp_id,
                secret=config.wecom.secret,
                agent_id=config.wecom.agent_id,
                base_url=config.wecom.api_base_url,
                timeout_s=config.wechat.request_timeout_s,
                key_prefix=config.redis.key_prefix,
            )
            chat_id = await wecom.appchat_create(name, members[0], members, args.chat_id)
    except WeChatAPIError as exc:
        print(texts.refused(exc.errcode, exc.errmsg), file=err)
        return 2
    except WeChatUnavailable as exc:
        print(texts.unavailable(str(exc)), file=err)
        return 1
    except (RedisStartError, RedisError) as exc:
        print(texts.redis_unavailable(str(exc)), file=err)
        return 1
    print(texts.created(name, chat_id, len(members), members[0]), file=out)
    return 0
