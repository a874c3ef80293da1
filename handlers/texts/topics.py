"""What an operator reads from `mashang topic ...` (码上商量 consultation topics): help, results, the
closing summary. Plain text for a terminal."""

from __future__ import annotations

from datetime import date

CREATE_HELP = "开设议题：群众扫码（小程序码场景 tp=<代号>）发表意见，委员在企业微信用「议 <代号> <意见>」"
CLOSE_HELP = "结束议题：公布结果，通知每位留有订阅授权的参与者，并输出统计"
LIST_HELP = "列出议题及意见数"
CODE_HELP = "生成议题的小程序码（场景 tp=<代号>）和海报"
POSTER_HEADLINE = "码上商量 · 请您建言"
KEY_HELP = "议题代号：小写字母、数字、连字符，最多 29 个字符"
BAD_KEY = "议题代号只能用小写字母、数字和连字符，最多 29 个字符"
BAD_DATE = "不是 YYYY-MM-DD 格式的日期"
UNTIL_PAST = "截止日期不能早于今天"
TITLE_REQUIRED = "标题不能为空，最多 100 个字"
BODY_REQUIRED = "说明不能为空，最多 5000 字"
SUMMARY_REQUIRED = "结果说明不能为空，最多 2000 字"
NO_TOPICS = "还没有议题。"


def exists(key: str) -> str:
    return f"议题 {key} 已存在"


def not_found(key: str) -> str:
    return f"没有议题 {key}"


def already_closed(key: str) -> str:
    return f"议题 {key} 已经结束"


def unknown_points(keys: list[str]) -> str:
    return "没有这些联系点：" + "、".join(keys)


def created(key: str, title: str, until: date) -> str:
    return f"已开设议题 {key}「{title}」，征集到 {until.isoformat()}；小程序码场景 tp={key}"


def list_line(key: str, title: str, status_zh: str, until: date, published: int, waiting: int) -> str:
    return f"{key}  {status_zh}  截止 {until.isoformat()}  已发布 {published} 条，待审核 {waiting} 条  「{title}」"


def closed_head(key: str, title: str, total: int, participants: int, notified: int) -> list[str]:
    return [
        f"议题 {key}「{title}」已结束。",
        f"意见 {total} 条，参与 {participants} 人；结果通知 {notified} 人（留有订阅授权的参与者）。",
    ]


BY_DAY = "按日期："
BY_POINT = "按联系点："
TOP_OPINIONS = "附议最多的意见："
NO_POINT = "（未经联系点）"


def count_line(label: str, count: int) -> str:
    return f"  {label}  {count}"


def top_line(opinion_id: int, supports: int, text: str) -> str:
    return f"  #{opinion_id}  附议 {supports}  {text}"


def poster_instructions(until: date) -> str:
    return f"微信扫一扫，就这个议题发表您的意见，也可以为别人的意见附议。征集到 {until.month} 月 {until.day} 日。"


def code_written(code_path: str, poster_path: str) -> str:
    return f"小程序码：{code_path}\n海报：{poster_path}"
