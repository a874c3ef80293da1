"""What citizens read. Polite Chinese; every message about a case carries its tracking code."""

from __future__ import annotations

import functools
from datetime import datetime

from handlers.cases.masking import excerpt
from handlers.settings import Settings
from models.sla import WorkdayCalendar, format_deadline_zh

HOW_TO = "请直接发送文字、图片、语音或位置，说明您遇到的问题或建议（时间、地点、经过），我们会给您一个查询编号。"


@functools.lru_cache(maxsize=64)  # part of every acknowledgement: one of a burst's hot paths
def duration_zh(seconds: float, *, workdays: bool = False) -> str:
    """ "2天", "1周", "3个工作日", "4小时", "10分钟": how a person would say the configured duration."""
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


def template_summary(purpose: str | None, case_summary: str | None) -> str:
    """A template message's summary field (20 characters show; the sender cuts it): the whole text is
    on the case page its link opens."""
    if purpose == "question":
        return "委员想向您了解情况，请点击查看并回复"
    if purpose == "survey":
        return "请您对办理结果进行评价"
    return f"您反映的「{case_summary}」有新消息" if case_summary else "您反映的问题有新消息，请点击查看"


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


def case_follow_up_slow_down(code: str, message_count: int) -> str:
    return (
        f"您的消息都已收到，并入诉求 {code}（共 {message_count} 条），一条也不会遗漏。"
        "您发送得比较频繁，委员会汇总阅读；请稍候再发，或把情况写在一条消息里。谢谢您的耐心！"
    )


def case_status(
    code: str,
    state_zh: str,
    where: str | None,
    last_reply: str | None,
    created: datetime,
    merged_into: tuple[str, str, bool] | None = None,
    *,
    finished: bool = False,
    rejected_because: str | None = None,
) -> str:
    """`merged_into`: (code, state, finished) of the case this one was merged into, whose reply the
    citizen gets; a finished one (closed, rejected) promises nothing more. `finished`: this case is
    (closed, merged or rejected). `rejected_because`: the reason staff gave when they rejected it."""
    place = f"（{where}）" if where else " "
    text = f"编号 {code}{place}于{local_time(created)}受理，当前状态：{state_zh}"
    if rejected_because:
        text += f"，原因：{rejected_because}"
    if merged_into:
        text += f"（与编号 {merged_into[0]} 合并办理，该件当前状态：{merged_into[1]}）"
    text += "。"
    if last_reply:
        text += f"\n最新答复：{last_reply}"
    elif merged_into and not merged_into[2]:
        text += "\n合并办理的答复会发给您，请耐心等待。"
    elif finished:
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


def follows_earlier(earlier_code: str) -> str:
    return f"\n（此件关联您此前已办结的诉求 {earlier_code}。）"


def my_case_line(index: int, code: str, where: str | None, state_zh: str, created: datetime) -> str:
    return f"{index}. {code} {where or ''} {state_zh}（{local_time(created)}）".replace("  ", " ")


# ---- what happens to a case, as the citizen hears it ------------------------------------------------


def assigned(code: str, member_name: str, due: str) -> str:
    return f"您的诉求（编号 {code}）已交由政协委员{member_name}办理，将于 {due} 前答复您。"


def transferred(code: str, department_name: str) -> str:
    return f"您的诉求（编号 {code}）已转交{department_name}办理，办理结果将及时告知您。"


def reply(code: str, text: str, by_name: str) -> str:
    return f"【答复】您的诉求（编号 {code}）：{text}\n——{by_name}"


def reply_via_merge(code: str, target_code: str, text: str, by_name: str) -> str:
    return f"【答复】您的诉求（编号 {code}，已与 {target_code} 合并办理）：{text}\n——{by_name}"


def merged(code: str, target_code: str) -> str:
    return f"您的诉求（编号 {code}）与同类问题（编号 {target_code}）合并办理，答复将同时告知您。"


def earlier_reply_of_merge(code: str, target_code: str, text: str) -> str:
    return f"【答复】关于 {code}（已与 {target_code} 合并）：{text}"


def rejected(code: str, reason: str) -> str:
    return f"您的诉求（编号 {code}）经审核不予受理，原因：{reason}。如有疑问，欢迎继续留言。"


def question(code: str, member_name: str, text: str) -> str:
    return f"关于您的诉求（编号 {code}），委员{member_name}想进一步了解：{text}\n请直接回复文字、图片或语音。"


def survey(code: str, reply_text: str) -> str:
    return (
        f"【回访】您的诉求（编号 {code}）已答复：{excerpt(reply_text, 100)}\n"
        "请问您对办理结果是否满意？请回复数字：1 满意　2 基本满意　3 不满意（可在数字后写下您的意见）。"
    )


SATISFACTION_ZH = {1: "满意", 2: "基本满意", 3: "不满意"}


def visit_closed(code: str, score: int) -> str:
    return f"感谢您的评价（{SATISFACTION_ZH[score]}）！编号 {code} 已办结。"


def visit_reopened(code: str, due: str) -> str:
    return f"很抱歉没有让您满意。编号 {code} 已重新办理，将于 {due} 前再次答复您。"
