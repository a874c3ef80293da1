"""What a mini-program citizen reads: the API's error messages and acknowledgements, the subscribe
messages' short fields, and the public timeline entries the official account has no need of.

Error messages are shown to the citizen as they are (`error.message`): polite, and saying what to do.
"""

from __future__ import annotations

from handlers.settings import Settings
from handlers.texts.citizen import promise

# ---- errors (error.code -> message) ---------------------------------------------------------------

MALFORMED_JSON = "请求内容不是有效的 JSON，请检查后重试。"
NOT_AN_OBJECT = "请求内容应为一个 JSON 对象。"
UNSUPPORTED_MEDIA_TYPE = "请求内容的格式不受支持。"
BODY_TOO_LARGE = "提交的内容太大了，请精简后重试。"
UNAUTHORIZED = "登录已失效，请重新进入小程序。"
NOT_FOUND = "没有找到您要的内容。"
ROUTE_NOT_FOUND = "没有这个接口。"
METHOD_NOT_ALLOWED = "这个接口不支持该请求方式。"
RATE_LIMITED = "操作太频繁了，请稍后再试。"
SERVER_ERROR = "服务暂时不可用，请稍后再试。"
WECHAT_UNAVAILABLE = "微信服务暂时不可用，请稍后再试。"

LOGIN_CODE_INVALID = "登录凭证无效或已过期，请重新进入小程序。"
LOGIN_RATE_LIMITED = "登录太频繁了，请稍后再试。"
LOGIN_BLOCKED = "您的微信账号暂时无法使用本服务。"

CASE_NOT_FOUND = "没有找到这个编号的诉求，请核对编号；编号只能查询您本人提交的诉求。"
BAD_CHECK_DIGIT = "编号有误（校验位不符），请核对后重新输入。"
CASE_CLOSED = "这件诉求已经办结，不能再补充内容了。如有新的问题，请重新提交一件诉求。"
NOT_IN_RETURN_VISIT = "这件诉求当前不在回访中，暂时不能评价。"
IDEMPOTENCY_KEY_REUSED = "同一个 Idempotency-Key 已用于另一份不同的内容，请换一个新的。"
CONTACT_POINT_NOT_FOUND = "没有找到这个联系点，请重新扫码。"


FIELD_LABELS = {"text": "内容", "comment": "评价意见", "location.address": "地址"}


def field_required(label: str) -> str:
    return f"请填写{label}。"


def field_invalid(label: str) -> str:
    return f"{label}的格式不正确。"


def text_empty() -> str:
    return "请写下您要反映的问题或建议。"


def text_too_long(limit: int) -> str:
    return f"内容太长了，请控制在 {limit} 字以内。"


UNKNOWN_FIELD = "请求中有无法识别的内容。"
BAD_COORDINATES = "位置信息不正确（纬度应在 -90 到 90 之间，经度在 -180 到 180 之间）。"
UPLOAD_UNKNOWN = "附件不存在或已使用，请重新上传。"
TOO_MANY_UPLOADS = "附件太多了。"
PHONE_CODE_INVALID = "手机号授权已失效，请重新授权。"
BAD_SCORE = "请在 1 满意、2 基本满意、3 不满意 中选择一项。"
COMMENT_TOO_LONG = "评价意见太长了。"
BAD_CURSOR = "翻页参数无效，请从第一页重新加载。"
BAD_LIMIT = "每页条数应在 1 到 50 之间。"
BAD_TEMPLATES = "订阅消息模板编号不正确。"

UPLOAD_MISSING = "请选择要上传的文件（表单字段 file）。"
UPLOAD_TYPE = "只能上传 JPEG、PNG、WebP 图片，或常见格式的语音和视频。"


def upload_too_large(kind_zh: str, limit_mib: int) -> str:
    return f"{kind_zh}不能超过 {limit_mib} MB。"


KIND_ZH = {"image": "图片", "voice": "语音", "video": "视频"}
UPLOAD_LABELS = {"image": "[图片]", "voice": "[语音]", "video": "[视频]"}


# ---- acknowledgements -----------------------------------------------------------------------------


def case_filed(code: str, contact_point_name: str | None, settings: Settings) -> str:
    where = f"您在「{contact_point_name}」反映的问题" if contact_point_name else "您反映的问题"
    return f"{where}已收到，查询编号：{code}。{promise(settings)}答复后会通知您，也可随时在「我的诉求」里查看办理进度。"


def follow_up_added(code: str, message_count: int) -> str:
    return f"已收到您的补充内容，已并入诉求 {code}（共 {message_count} 条）。"


PHONE_FORGOTTEN = "已删除您留下的手机号。"


# ---- subscribe messages (short fields: a `thing` shows at most 20 characters) ------------------------

SUBSCRIBE_TITLES = {
    "reply": "您的诉求已有答复",
    "question": "委员请您补充情况",
    "survey": "请评价办理结果",
    "topic": "议题征集结果已公布",
    "case_filed": "您的意见已转为诉求办理",
}
SUBSCRIBE_CONTENT = {
    "reply": "点击查看答复全文",
    "question": "点击查看问题并回复",
    "survey": "点击进入评价",
    "case_filed": "点击查看办理进度",
}


# ---- the public timeline -------------------------------------------------------------------------

NOT_PUSHED = ("未推送通知", "有新消息，已留在本页")


# ---- a contact point's page ------------------------------------------------------------------------

HOW_TO = "请写下您遇到的问题或建议（时间、地点、经过），可以附上图片、语音或位置，我们会给您一个查询编号。"


def point_prompt(name: str, active: bool, settings: Settings) -> str:
    if not active:
        return f"「{name}」联系点已停止使用。您仍可以在这里反映问题，我们同样受理。{HOW_TO}"
    return f"欢迎来到「{name}」码上商联系点。{HOW_TO}{promise(settings)}"


# ---- 码上商量: consultation topics ------------------------------------------------------------------

TOPIC_NOT_FOUND = "没有找到这个议题，请重新扫码。"
TOPIC_CLOSED = "这个议题已经结束征集，感谢您的关注。"
OPINION_NOT_FOUND = "没有找到这条意见。"
OPINION_RISKY = "您的意见中有不适宜公开发布的内容，请修改后再提交。"
ALREADY_SUPPORTED = "您已经附议过这条意见了。"
OWN_OPINION = "不能附议自己的意见。"
IMAGES_ONLY = "议题意见只能附图片。"
BAD_ORDER = "排序方式只能是 newest（最新）或 support（附议最多）。"
AUTHOR_CITIZEN = "群众"
AUTHOR_MEMBER = "委员"
TOPIC_STATUS_ZH = {"open": "征集中", "closed": "已结束"}


def opinion_posted(status: str, with_images: bool) -> str:
    images = "图片通过审核后显示。" if with_images else ""
    if status == "published":
        return f"感谢您的意见，已发布。{images}"
    return "感谢您的意见，审核通过后发布。"


def supported(count: int) -> str:
    return f"附议成功，这条意见已有 {count} 人附议。"


def topic_outcome(title: str, summary: str) -> str:
    """Sent to a participant when the topic closes (the subscribe message's page shows it whole)."""
    return f"您参与的议题「{title}」已结束征集。结果：{summary}"


def opinion_became_case(code: str, title: str) -> str:
    return f"您在议题「{title}」中的意见已转为诉求办理，查询编号 {code}，办理结果会通知您。"
