"""What members read: WeCom app messages, or the official account once bound. Every message about a case
carries its tracking code and the command that answers it. What a stranger wrote goes through `escape`:
WeCom and WeChat texts turn `<a href>` into links."""

from __future__ import annotations

from handlers.cases.masking import excerpt
from handlers.texts.markdown import escape

# verb, English alias, usage, effect: the help table (docs/commands.md is checked against it)
COMMANDS: list[tuple[str, str, str, str]] = [
    ("收", "accept", "收 <编号>", "接收交办的件"),
    ("答", "reply", "答 <编号> <答复内容>", "答复群众"),
    ("问", "ask", "问 <编号> <问题>", "向群众了解情况，群众的回复会转给您"),
    ("退回", "return", "退回 <编号> <原因>", "退回分拣"),
    ("我的", "my", "我的", "我在办的件"),
    ("议", "opinion", "议 <议题代号> <意见>", "就码上商量议题发表意见（以委员身份公开）"),
    ("帮助", "help", "帮助", "显示本表"),
]
VERBS = {word: verb for verb, alias, _, _ in COMMANDS for word in (verb, alias)}


def help_text() -> str:
    rows = [f"{usage}（{alias}）：{effect}" for _, alias, usage, effect in COMMANDS]
    return "委员办件命令：\n" + "\n".join(rows)


def usage(verb: str) -> str:
    return next(u for v, _, u, _ in COMMANDS if v == verb)


def topic_not_found(key: str) -> str:
    return f"没有议题 {escape(key)}。"


def topic_closed(key: str) -> str:
    return f"议题 {escape(key)} 已经结束征集。"


def opinion_too_long(limit: int) -> str:
    return f"意见最多 {limit} 字，请精简后再发。"


def opinion_posted(opinion_id: int, key: str) -> str:
    return f"您的意见 #{opinion_id} 已发布在议题 {escape(key)}，署名为委员。"


# ---- what the system tells a member -----------------------------------------------------------------


def new_assignment(code: str, urgent: bool, where: str, content: str, due: str) -> str:
    return (
        f"【新交办】编号 {code}{'（急件）' if urgent else ''}\n"
        f"联系点：{escape(where)}\n内容：{content}\n请于 {due} 前答复。\n"  # content: from first_content
        f"回复「收 {code}」接收；「答 {code} 答复内容」答复群众；「问 {code} 问题」向群众了解情况；"
        f"「退回 {code} 原因」退回分拣。"
    )


def reminder(code: str, due: str) -> str:
    return f"【催办】编号 {code} 请于 {due} 前答复群众。回复「答 {code} 答复内容」即可。"


def overdue(code: str) -> str:
    return f"【超期提醒】编号 {code} 已超过答复期限，请尽快答复：「答 {code} 答复内容」。"


def reopened(code: str, comment: str, due: str) -> str:
    said = f"：{excerpt(escape(comment), 200)}" if comment else ""
    return f"【重办】编号 {code} 群众不满意{said}。请于 {due} 前重新答复：「答 {code} 内容」。"


def made_urgent(code: str, due: str) -> str:
    return f"【急件】编号 {code} 已标为急件，答复期限提前到 {due}，请抓紧办理。"


def handed_over(code: str, why: str) -> str:
    """The case left the member (`why` is one of the HANDOVER_* phrases)."""
    return f"【交办变更】编号 {code} {why}，您无需再办理。谢谢！"


def handover_reassigned(member_name: str) -> str:
    return f"已改由委员{member_name}办理"


def handover_transferred(department_name: str) -> str:
    return f"已转交{department_name}办理"


HANDOVER_ANSWERED_BY_STAFF = "已由工作人员答复群众"


def template_summary(case_summary: str | None) -> str:
    """A template message's summary field for a member (cut to its type's length by the sender)."""
    return f"委员您好：{case_summary}" if case_summary else "委员您好，您有新的履职消息，请进入公众号查看"


HANDOVER_REJECTED = "经审核不予受理"


def handover_merged(target_code: str) -> str:
    return f"已并入同类件 {target_code} 一并办理"


def citizen_follow_up(code: str, text: str) -> str:
    return f"【群众补充】编号 {code}：{excerpt(escape(text), 500)}"


def citizen_follow_ups(code: str, texts: list[str], more: int, interval: str) -> str:
    """A digest of what the citizen added; `more`: follow-ups left for the next one, `interval` from now."""
    if len(texts) == 1 and not more:
        return citizen_follow_up(code, texts[0])
    lines = [f"【群众补充】编号 {code}（共 {len(texts)} 条）："]
    lines += [f"{number}. {excerpt(text, 200)}" for number, text in enumerate(texts, start=1)]
    if more:
        lines.append(f"（另有 {more} 条补充，{interval}后续发）")
    return "\n".join(lines)


# ---- answers to a member's commands -------------------------------------------------------------------


def accepted(code: str, due: str) -> str:
    return f"已接收 {code}，请于 {due} 前答复。"


def asked(code: str) -> str:
    return f"已向 {code} 的群众提问，群众的回复会转给您。"


def returned(code: str) -> str:
    return f"已将 {code} 退回分拣，原因已告知工作人员。"


def my_cases(member_name: str, rows: list[tuple[str, str, bool, str, str]]) -> str:
    """rows: (code, state, urgent, summary, reply due)."""
    if not rows:
        return f"{member_name}委员，您目前没有在办的件。"
    lines = [f"{member_name}委员，您在办 {len(rows)} 件："]
    for code, state, urgent, summary, due in rows:
        lines.append(f"{'【急】' if urgent else ''}{code} {state} {excerpt(escape(summary), 20)}（答复期限 {due}）")
    return "\n".join(lines)


def staff_command(verb: str) -> str:
    return f"「{verb}」是工作人员的命令，委员请用以下命令。\n{help_text()}"


def not_understood(text: str) -> str:
    return f"没有听懂「{excerpt(text, 30)}」。\n{help_text()}"


# ---- binding the official account ---------------------------------------------------------------------


def already_bound(member_name: str) -> str:
    return f"{member_name}委员，您已绑定，无需再次绑定。\n{help_text()}"


BIND_CODE_INVALID = "绑定码无效或已过期，请向政协办公室重新索取。"


def bind_locked(until: str, everyone: bool) -> str:
    if everyone:
        return f"绑定尝试过于频繁，绑定功能已暂停，请于 {until} 后再试。如有疑问，请联系政协办公室。"
    return f"绑定码输错次数过多，已暂停您的绑定，请于 {until} 后再试。如有疑问，请联系政协办公室。"


BIND_USAGE = (
    "委员绑定公众号请发送「绑定 绑定码」（绑定码由政协办公室提供，12 位字母和数字）。群众反映问题请直接发送内容。"
)


def bound(member_name: str) -> str:
    return f"{member_name}委员，您好！绑定成功。今后交办给您的件会发到这里。\n{help_text()}"
