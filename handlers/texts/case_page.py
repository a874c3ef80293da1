"""What the citizen's case page says beyond its templates: times, the public timeline, and the notices
shown instead of the page (a link that no longer opens, an answer that changed nothing)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.texts.citizen import SATISFACTION_ZH
from models.sla import LOCAL_TZ

_LOCAL = ZoneInfo(LOCAL_TZ)


def page_time(moment: datetime) -> str:
    """Beijing time with the year: a page is read long after the chat, "2026年5月3日 14:05"."""
    local = moment.astimezone(_LOCAL)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


# ---- the public timeline: what happened, never who among the staff did it or what they noted ----------

SUBMITTED = ("提交诉求", "您的诉求已受理")
TIMELINE: dict[str, tuple[str, str]] = {
    "state:assign": ("已交办", "交由政协委员办理"),
    "state:transfer": ("已转办", "转交承办部门办理"),
    "state:ask": ("询问情况", "委员请您补充情况"),
    "state:provide_info": ("补充情况", "您已补充情况"),
    "state:reply": ("已答复", "答复内容见上方"),
    "reply.via_merge": ("已答复", "合并办理的答复见上方"),
    "state:start_return_visit": ("回访", "请您评价办理结果"),
    "state:close": ("已办结", ""),
    "state:reopen": ("重新办理", ""),
    "state:merge": ("合并办理", "与同类诉求合并办理"),
    "state:reject": ("不予受理", ""),
}


def visit_note(score: int | None) -> str:
    return f"您的评价：{SATISFACTION_ZH[score]}" if score in SATISFACTION_ZH else ""


def merged_note(target_code: str) -> str:
    return f"与编号 {target_code} 合并办理"


def merged_into(target_code: str, target_state_zh: str) -> str:
    return f"您的诉求与同类问题（编号 {target_code}）合并办理，该件当前状态：{target_state_zh}。"


MESSAGE_LABELS = {"image": "[图片]", "voice": "[语音]", "video": "[视频]", "location": "[位置]", "link": "[链接]"}
STAFF_SIGNATURE_FALLBACK = "政协码上商"


# ---- notices ----------------------------------------------------------------------------------------

LINK_GONE_TITLE = "链接已失效"


def link_gone(code: str | None) -> str:
    """An expired or used link (with its case's code), or an unknown one (without: no oracle)."""
    what = f"查询编号 {code}" if code else "您的查询编号"
    return f"此链接已过期或已使用。如需查看办理进度，请在本公众号发送{what}；发送「我的」可查看您提交过的全部诉求。"


ALREADY_ANSWERED_TITLE = "已经评价过了"
ALREADY_ANSWERED = "您已经通过此链接评价过了，无需重复提交，感谢您的参与。"
VISIT_OVER_TITLE = "无需评价"


def visit_over(code: str, state_zh: str) -> str:
    return f"编号 {code} 当前状态为「{state_zh}」，不在回访中，这次提交没有改变任何内容。"


STALE_TITLE = "页面已更新"
STALE = "这个页面已经过期（办理情况有了变化，或提交内容不完整），这次提交没有改变任何内容。请重新打开链接后再评价。"
BAD_ANSWER_TITLE = "提交的内容有误"
BAD_SCORE = "请在「满意」「基本满意」「不满意」中选择一项。这次提交没有改变任何内容。"


def comment_too_long(limit: int) -> str:
    return f"意见请不超过 {limit} 字。这次提交没有改变任何内容，请返回修改后再提交。"


THANKS_TITLE = "感谢您的评价"
