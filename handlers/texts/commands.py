"""What anyone typing commands in chat (staff or members) reads when a command cannot be carried out."""

from __future__ import annotations

from models.entities import CASE_STATE_ZH
from models.state import CommandRefused, Refusal
from models.tracking import format_code


def usage(line: str) -> str:
    return f"格式：{line}"


def not_a_code(text: str, prefix: str) -> str:
    return f"「{text}」不是有效的编号（形如 {format_code(prefix, '261123', 42)}）。"


def check_digit_failed(code: str | None) -> str:
    return f"编号 {code} 校验未通过，可能有数字输错或顺序颠倒，请核对。"


def no_such_case(code: str | None) -> str:
    return f"没有编号为 {code} 的件。"


def no_such_member(text: str) -> str:
    return f"没有找到委员「{text}」，请用姓名或花名册代号（如 m-zhang）。"


def several_members(text: str, listed: str, first_key: str) -> str:
    return f"「{text}」对应多位委员：{listed}。请改用花名册代号，如「派 <编号> {first_key}」。"


def member_guess(text: str, name: str, key: str) -> str:
    return f"没有叫「{text}」的委员。您是不是要找 {name}（{key}）？请写全名或花名册代号。"


def several_departments(listed: str) -> str:
    return f"对应多个部门：{listed}"


def no_such_department(text: str) -> str:
    return f"没有找到部门「{text}」。"


def no_such_category(text: str, names: str) -> str:
    return f"没有类别「{text}」。可选：{names}"


def empty_reply(code: str) -> str:
    return f"答复内容不能为空：「答 {code} 答复内容」。"


def need_question(code: str) -> str:
    return f"请写明要问群众的问题：「问 {code} 问题」。"


def need_return_reason(code: str) -> str:
    return f"请说明退回原因：「退回 {code} 原因」。"


def need_reject_reason(code: str) -> str:
    return f"请说明不予受理的理由：「退 {code} 理由」。"


def refused(exc: CommandRefused) -> str:
    """A guard of models.state said no."""
    code, state = exc.case_code, CASE_STATE_ZH[exc.state]
    if exc.refusal is Refusal.NOT_HELD:
        return f"编号 {code} 当前状态为「{state}」，已不在您的办理中，无需再办理。"
    if exc.refusal is Refusal.NOT_YOURS:
        return f"编号 {code} 不是交办给您的件，不能办理。"
    if exc.refusal is Refusal.NOT_REPLIED:
        return f"编号 {code} 当前状态为「{state}」，只有已答复的件才能回访。"
    if exc.refusal is Refusal.MERGE_SELF:
        return "不能把一件并入它自己。"
    if exc.refusal is Refusal.MERGE_TARGET:
        return f"目标件 {exc.other_code} 当前状态为「{state}」，不能作为并案目标。"
    if exc.refusal is Refusal.CATEGORY_FIXED:
        return f"编号 {code} 已「{state}」，不能再改类别。"
    return f"编号 {code} 已「{state}」，无需加急。"


# A WeCom user who is neither staff nor member.
NOT_ON_ROSTER = "您好，您还不是码上商的工作人员或委员，不能使用此功能。如需开通，请联系政协办公室。"
BIND_CODE_UNAVAILABLE = "暂时无法生成绑定码，请稍后再试。"


def bind_several_members(text: str, listed: str) -> str:
    return f"「{text}」对应多位委员：{listed}。请改用花名册代号。"


def bind_no_member(text: str, examples: str) -> str:
    hint = f"（委员代号是花名册 [[members]] 里的 key，例如 {examples}）" if examples else ""
    return f"没有代号为 {text} 的委员{hint}。"
