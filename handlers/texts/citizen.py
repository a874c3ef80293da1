"""What citizens read. Polite Chinese; every message about a case carries its tracking code."""

from __future__ import annotations

import functools
from datetime import datetime

from handlers.settings import Settings
from models.sla import WorkdayCalendar, format_deadline_zh

HOW_TO = "请直接发送文字、图片、语音或位置，说明您遇到的问题或建议（时间、地点、经过），我们会给您一个查询编号。"


@functools.lru_cache(maxsize=64)  # part of every acknowledgement: one of a burst's hot paths
def duration_zh(seconds: float, *, workdays: bool = False) -> str:
    """"2天", "1周", "3个工作日", "4小时", "10分钟": how a person would say the configured duration."""
    whole = round(seconds)
    if whole >= 86400 and whole % 86400 == 0:
        days = whole // 86400
        if workdays:
            return f"{days}个工作日"
        return f"{days // 7}周" if days % 7 == 0 else f"{days}天"
    if whole >= 3600 and whole % 3600 == 0:
        return f"{whole // 3600}小时"
    if whole >= 60 and whole % 60 == 0:
        return f"{whole // 60}分钟"
    return f"{max(1, whole)}秒"


def promise(settings: Settings) -> str:
    """The committee's service levels as configured ([sla]), e.g. "我们将在2天内交办、1周内答复。"."""
    sla = settings.sla
    workdays = isinstance(sla.calendar, WorkdayCalendar)
    return (
        f"我们将在{duration_zh(sla.assign_within, workdays=workdays)}内交办、"
        f"{duration_zh(sla.reply_within, workdays=workdays)}内答复。"
    )


def local_time(moment: datetime) -> str:
    """Beijing time the way every message writes it: "12月1日 00:33" (as deadlines are written)."""
    return format_deadline_zh(moment)


def greeting_for_contact_point(name: str, settings: Settings) -> str:
    return f"您好！欢迎来到「{name}」码上商联系点。{HOW_TO}{promise(settings)}"


def greeting_general(settings: Settings) -> str:
    return f"您好！欢迎使用码上商，政协委员倾听您的意见和建议。{HOW_TO}{promise(settings)}"


def greeting_revoked(name: str) -> str:
    return f"您好！「{name}」联系点已停止使用。您仍可以直接在这里留言反映问题，我们同样受理。{HOW_TO}"


def case_received(code: str, contact_point_name: str | None, settings: Settings) -> str:
    where = f"您在「{contact_point_name}」反映的问题" if contact_point_name else "您反映的问题"
    return (
        f"{where}已收到，查询编号：{code}。{promise(settings)}"
        f"请保存好编号，发送编号即可查询办理进度；"
        f"如需补充，{duration_zh(settings.group_window_s)}内直接继续发送即可。"
    )


def case_follow_up(code: str, message_count: int) -> str:
    return f"已收到您的补充内容，已并入诉求 {code}（共 {message_count} 条）。"


def case_status(
    code: str,
    state_zh: str,
    where: str | None,
    last_reply: str | None,
    created: datetime,
    merged_into: tuple[str, str, bool] | None = None,
) -> str:
    """`merged_into`: (code, state, finished) of the case this one was merged into, whose reply the
    citizen gets; a finished one (closed, rejected) promises nothing more."""
    place = f"（{where}）" if where else " "
    text = f"编号 {code}{place}于{local_time(created)}受理，当前状态：{state_zh}"
    if merged_into:
        text += f"（与编号 {merged_into[0]} 合并办理，该件当前状态：{merged_into[1]}）"
    text += "。"
    if last_reply:
        text += f"\n最新答复：{last_reply}"
    elif merged_into and not merged_into[2]:
        text += "\n合并办理的答复会发给您，请耐心等待。"
    elif state_zh in {"不予受理", "已并案", "已办结"}:
        text += "\n如有新的情况，欢迎直接留言。"
    else:
        text += "\n暂无答复，我们会尽快办理，请耐心等待。"
    return text


def citizen_help() -> str:
    return f"您好！{HOW_TO}\n发送查询编号可查看办理进度；发送「我的」可查看您提交过的全部诉求。"


def code_not_found(code: str) -> str:
    return f"未找到编号为 {code} 的诉求，请核对编号后再试。发送「我的」可查看您提交过的全部诉求。"


def code_check_failed(code: str) -> str:
    return f"编号 {code} 校验未通过，可能有数字输错或顺序颠倒，请核对后重新发送。"


def my_cases(lines: list[str], total: int) -> str:
    if not lines:
        return f"您还没有提交过诉求。{HOW_TO}"
    head = f"您共提交过 {total} 件诉求" + ("，以下是最近 10 件" if total > len(lines) else "") + "："
    return head + "\n" + "\n".join(lines) + "\n发送编号可查看详情。"


def unsupported_message() -> str:
    return f"抱歉，暂不支持这种消息类型。{HOW_TO}"
