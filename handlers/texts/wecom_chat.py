"""What the operator reads from `mashang wecom create-chat` (the triage group chat made through the API)."""

from __future__ import annotations

HELP = "企业微信：建立分拣群（appchat/create）"
CREATE_HELP = "通过企业微信接口建立群聊，打印要写入配置的群聊 ID（appchat/send 只能发到应用自己建立的群）"
CREATE_DESCRIPTION = (
    "企业微信的 appchat/send 只能发到本应用通过 appchat/create 建立的群，已有的普通群收不到。"
    "本命令建立这样的群并打印群聊 ID，写入 [wecom] triage_chat_id 后，新诉求就发到这个群。"
    "要求：企业自建应用，且应用的可见范围是根部门；群成员 2 至 2000 人。"
)
NAME_HELP = "群名，最多 50 个字，例如 码上商分拣群"
OWNER_HELP = "群主的企业微信 userid（自动加入成员）"
MEMBERS_HELP = "成员的企业微信 userid，用逗号分隔，例如 lisi,chenqi,wangwu"
CHAT_ID_HELP = "自定群聊 ID（最多 32 个字母或数字）；不填由企业微信生成"
DEMO_HELP = "向正在运行的 `mashang serve --demo` 的模拟企业微信建群，而不是真实的企业微信"


def name_missing() -> str:
    return "群名不能为空（--name）"


def name_too_long(limit: int, length: int) -> str:
    return f"群名最多 {limit} 个字，现在是 {length} 个（企业微信会截断）"


def too_few_members(count: int, least: int) -> str:
    return f"群成员（含群主）至少 {least} 人，现在只有 {count} 人：请用 --members 列出成员的 userid"


def too_many_members(count: int, most: int) -> str:
    return f"群成员（含群主）最多 {most} 人，现在有 {count} 人"


def bad_userid(userid: str) -> str:
    return f"「{userid}」不是企业微信 userid：只能由字母、数字和 _-@. 组成，最长 64 个字符"


def bad_chat_id(chat_id: str, most: int) -> str:
    return f"群聊 ID「{chat_id}」不合格：只能由字母和数字组成，最长 {most} 个字符"


def demo_credentials(keys: str) -> str:
    return (
        f"配置错误：{keys} 仍是 config.example.toml 的演示值，不能向真实的企业微信建群；"
        "请在 config.toml 填写真实的 corp_id 和 secret，或加 --demo 向模拟平台建群"
    )


def created(name: str, chat_id: str, count: int, owner: str) -> str:
    return (
        f"已建立群聊「{name}」（{count} 人，群主 {owner}）。\n"
        f"群聊 ID：{chat_id}\n"
        "请写入配置 config.toml：\n"
        "  [wecom]\n"
        f'  triage_chat_id = "{chat_id}"\n'
        f"（或设置环境变量 MASHANG_WECOM_TRIAGE_CHAT_ID={chat_id}），然后重启 mashang serve：新诉求将发到这个群。"
    )


# What to do about WeCom's answer (https://developer.work.weixin.qq.com/document/path/90313).
REFUSAL_HINTS = {
    86001: "群聊 ID 不合格或已被占用：换一个 --chat-id，或不填由企业微信生成",
    86004: "群名不合格：换一个群名",
    86005: "群主不合格：--owner 必须是企业成员的 userid",
    86006: "成员数不合格：群成员须为 2 至 2000 人",
    86007: "有成员不合格：请核对 --members 里的 userid",
    40003: "有 userid 不存在：请核对 --owner 和 --members",
    40031: "有 userid 不存在或不在应用可见范围内：请核对 --owner 和 --members",
    48002: "应用没有这个接口的权限：只有企业自建应用、且可见范围为根部门时才能建群",
    60011: "应用的可见范围不够：请在企业微信管理后台把应用的可见范围设为根部门",
    60020: "服务器 IP 不在应用的可信 IP 列表中：请在企业微信管理后台添加",
}


def refused(errcode: int, errmsg: str) -> str:
    hint = REFUSAL_HINTS.get(errcode, "请按企业微信的错误码说明处理后重试")
    return f"企业微信拒绝建群（错误码 {errcode}：{errmsg}）：{hint}"


def unavailable(why: str) -> str:
    return f"连不上企业微信（{why}），没有建群：请稍后再试"


def redis_unavailable(why: str) -> str:
    return f"无法连接 Redis（{why}）：请检查 [redis] 配置"
