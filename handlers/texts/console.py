"""Every sentence of the web console (`/console`) and of `mashang staff …`: staff and operators read
them, in Chinese."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from models.sla import LOCAL_TZ

_LOCAL = ZoneInfo(LOCAL_TZ)

# ---- `mashang staff …` ------------------------------------------------------------------------------

PASSWORD_PROMPT = "新密码："
PASSWORD_AGAIN = "再输入一次："
PASSWORDS_DIFFER = "两次输入的密码不一致，密码未更改。"
PASSWORD_NO_INPUT = "没有读到密码，密码未更改。"
PASSWORD_BLANKS = "密码首尾不能有空格，也不能含控制字符。"
ROLE_ZH = {"admin": "管理员", "triage": "分拣员", "viewer": "只读（领导）"}


def password_too_short(minimum: int) -> str:
    return f"密码太短：至少 {minimum} 个字符。"


def password_too_long(maximum: int) -> str:
    return f"密码太长：最多 {maximum} 个字符。"


def no_such_staff(key: str) -> str:
    return f"名册里没有编号为 {key} 的工作人员（先导入名册：mashang roster import …）。"


def staff_inactive(key: str) -> str:
    return f"工作人员 {key} 在名册里已停用（active = false），不能设置控制台密码。"


def password_set(name: str, key: str, role: str) -> str:
    return f"已设置 {name}（{key}，{ROLE_ZH.get(role, role)}）的控制台密码；该账号原有的登录会话已失效。"


def account_disabled(name: str, key: str) -> str:
    return f"已停用 {name}（{key}）的控制台账号，已登录的会话立即失效；重新设置密码即可恢复。"


# ---- logging in -------------------------------------------------------------------------------------

LOGIN_TITLE = "登录控制台"
LOGIN_FAILED = "工作人员编号或密码不对。"
LOGIN_STALE = "登录页已过期，请重新输入。"
LOGGED_OUT = "您已退出登录。"
SESSION_ENDED = "登录已过期或账号已停用，请重新登录。"


def login_locked(minutes: int) -> str:
    return f"登录失败次数过多，已锁定 {minutes} 分钟，请稍后再试。"


def attempts_left(count: int) -> str:
    return f"再错 {count} 次将锁定 15 分钟。" if count <= 2 else ""


# ---- the frame ----------------------------------------------------------------------------------------

TITLE = "码上商控制台"
NAV = (
    ("queue", "队列"),
    ("cases", "件"),
    ("map", "图谱"),
    ("deadlines", "时限"),
    ("members", "委员"),
    ("points", "联系点"),
)
FORBIDDEN_TITLE = "没有权限"
FORBIDDEN_VIEWER = "只读账号可以查看，不能办理。"
BAD_CSRF_TITLE = "请求已失效"
BAD_CSRF = "表单已过期或不是从本控制台提交的，未做任何更改。请刷新页面后重试。"
NOT_FOUND_TITLE = "找不到"
NOT_FOUND = "没有这个页面或编号。"
LOGOUT = "退出"

# ---- the queue ----------------------------------------------------------------------------------------

QUEUE_TITLE = "队列"
STATE_ALL = "全部状态"
SOURCE_ZH = {"qr": "扫码", "hotline": "12345"}
OVERDUE = "已超时"
URGENT = "急"
QUEUE_EMPTY = "没有符合条件的件。"
FILTERS = "筛选"
LIVE_ON = "实时更新中"
LIVE_OFF = "实时更新已断开，正在重连…"
NO_CATEGORY = "未分类"


def queue_count(total: int, shown: int, overdue: int) -> str:
    more = f"，显示前 {shown} 件" if total > shown else ""
    late = f"，其中 {overdue} 件已超时" if overdue else ""
    return f"共 {total} 件{more}{late}"


def bad_date(text: str) -> str:
    return f"日期应为 YYYY-MM-DD：{text}"


# ---- one case -----------------------------------------------------------------------------------------

CASE_TITLE = "件"
NO_MESSAGES = "没有消息。"
NO_REPLIES = "还没有答复。"
VISIT_NONE = "尚未回访。"
VOICE_NOT_SAVED = "语音尚未保存（正在从微信下载）"
MEDIA_NOT_SAVED = "文件尚未保存（正在从微信下载）"
SATISFACTION = {1: "满意", 2: "基本满意", 3: "不满意"}
VISIT_CHANNEL_ZH = {"citizen": "群众在公众号回复", "phone": "电话回访", "page": "群众在网页评价"}
DIRECTION_ZH = {"in": "群众", "out": "工作人员"}


def time_left(due: datetime, moment: datetime) -> tuple[str, bool]:
    """("还剩 1天3小时", False) or ("已超时 2小时", True)."""
    delta = due - moment
    late = delta < timedelta(0)
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        span = f"{days}天{hours}小时" if hours else f"{days}天"
    elif hours:
        span = f"{hours}小时{minutes}分" if minutes else f"{hours}小时"
    else:
        span = f"{minutes}分钟"
    return (f"已超时 {span}", True) if late else (f"还剩 {span}", False)


def console_time(moment: datetime) -> str:
    local = moment.astimezone(_LOCAL)
    return f"{local.year}-{local.month:02d}-{local.day:02d} {local:%H:%M}"


def location(label: str, latitude: float, longitude: float) -> str:
    where = f"{label}，" if label else ""
    return f"{where}北纬 {latitude:.5f}，东经 {longitude:.5f}"


ACTION_DONE = "已办理"
ACTION_REFUSED = "未能办理"
ACTIONS = {
    "assign": "交办",
    "transfer": "转办",
    "reply": "答复",
    "merge": "并案",
    "reject": "不予受理",
    "category": "分类",
    "urgent": "标为紧急",
    "visit": "电话回访",
}
SUGGESTED = "（建议）"
ASSIGN_DEADLINE = "交办期限"
REPLY_DEADLINE = "答复期限"


def done_at(when: str, late: bool) -> str:
    return f"已于 {when} 完成" + ("（超时）" if late else "（按时）")


def field_too_long(limit: int) -> str:
    return f"内容太长：最多 {limit} 个字。未做任何更改。"


# ---- the figures' pages (图谱, 时限, 委员, 联系点) -------------------------------------------------------

PAGE_TITLES = {"map": "社情民意图谱", "deadlines": "时限", "members": "委员履职", "points": "联系点"}
FILTER_LABELS = {
    "since": "从",
    "until": "到",
    "point": "联系点",
    "category": "类别",
    "district": "区县",
    "source": "来源",
    "member": "委员",
}
BAD_BY = "「按」只能选联系点或区县，已按联系点显示。"
NO_PLACE = "（未扫码：12345 热线等）"
SHOW = "显示"
CLEAR = "清除"
ALL_OPTION = "全部"
EXPORT = "导出"
EXPORT_CSV = "CSV"
EXPORT_XLSX = "Excel（全部表）"
NOTHING_TO_SHOW = "这段时间没有数据。"
HEAT_TITLE = "各联系点（或区县）每周件数"
HEAT_HINT = "颜色越深件数越多；▲ 为热点（比前 8 周明显增多）。点格子查看这些件。"
HOT_SPOTS = "热点：比前 8 周明显增多的类别"
HOT_RULE_LABEL = "热点的判定"
HOT_RULE = "同一地点、同一类别本周件数 ≥ 5，且按前 8 周平均数的泊松分布，出现这么多件的概率 < 0.1%。"
WEEKLY_CASES = "每周件数（扫码和 12345 热线）"
POINT_MAP = "联系点分布：圆越大件数越多，颜色为满意率（绿 ≥ 90%，黄 ≥ 70%，红更低，灰未评价）"
POINTS_ON_MAP = "有经纬度的联系点"
NO_COORDINATES = "名册里还没有联系点填写经纬度（latitude、longitude），无法画分布图。"
PROMISE_CHART = "每周按时交办率、按时答复率和回访率，对照承诺"
PROMISE_LABEL = "承诺"
OVERDUE_NOW = "当前超期"
OVERDUE_LIST = "当前超期的件（超期最久的在前）"
BY_WEEK = "按周"
BY_POINT = "按联系点"
BY_MONTH = "按月"
MEMBERS_TOTAL = "各位委员（点姓名看履职画像）"
MEMBER_MONTHS = "每月交办、答复和按时答复的件数"
OPEN_CASES = "在办的件"
POINTS_TOTAL = "各联系点（点名称看每周数据和二维码）"
POINT_WEEKS = "每周扫码、新关注和件数"
CODES = "二维码与海报"
DOWNLOAD = "二维码"
POSTER = "海报"
DOWNLOAD_CODE = "下载二维码"
DOWNLOAD_POSTER = "下载海报"
NO_SUCH_CODE = "这个联系点没有这个二维码。"
NO_CODES = "还没有为这个联系点生成二维码：mashang qr make <联系点> 生成后，这里可以下载二维码和海报。"


SOURCE_OPTIONS = [("qr", "扫码"), ("hotline", "12345 热线")]
BY_OPTIONS_ZH = {"point": "按联系点", "district": "按区县"}
AXIS_CASES = "件数（件）"
AXIS_RATE = "比率（%）"
AXIS_COUNTS = "次数 / 件数"
AXIS_WEEK = "周（周一的日期）"
AXIS_MONTH = "月份"
SERIES = {
    "cases": "件数",
    "triage_rate": "按时交办率",
    "reply_rate": "按时答复率",
    "visit_rate": "回访率",
    "promise": "承诺 100%",
    "assigned": "交办",
    "replied": "答复",
    "replied_on_time": "按时答复",
    "scans": "扫码",
    "new_followers": "新关注",
}
MAP_NORTH = "↑ 北　经纬度示意"


def map_dot(name: str, cases: int, satisfaction: float | None) -> str:
    """A contact point's dot on the map, when a pointer rests on it."""
    rate = "未评价" if satisfaction is None else f"{satisfaction * 100:.0f}%"
    return f"{name}：{cases} 件，满意率 {rate}"


def promise(assign_hours: float, reply_days: float) -> str:
    assign = f"{assign_hours / 24:g} 天" if assign_hours >= 24 else f"{assign_hours:g} 小时"
    return f"{assign}内交办、{reply_days:g} 天内答复、答复的件 100% 回访"


def member_title(name: str) -> str:
    return f"{name} · 履职画像"


def point_title(name: str) -> str:
    return f"{name} · 联系点"


def more_rows(total: int, shown: int) -> str:
    return f"共 {total} 件，这里列出前 {shown} 件，全部请导出。"
