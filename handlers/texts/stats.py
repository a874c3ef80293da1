"""What staff, leaders and the committee's dashboards read of the console's figures: the filters' error
messages, the Chinese headers of the exported tables (CSV, XLSX), the `mashang staff token` and
`mashang report members` lines."""

from __future__ import annotations

from datetime import date

UNKNOWN_PARAMETER = "不认识这个参数"
CONTROL_CHARACTERS = "含有不能识别的字符（控制字符），请重新输入。"
SINCE_AFTER_UNTIL = "开始日期晚于结束日期"
NO_SUCH_POINT = "名册里没有这个联系点"
NO_SUCH_CATEGORY = "名册里没有这个类别"
NO_SUCH_MEMBER = "名册里没有这位委员"
BAD_SOURCE = "来源应为 qr（扫码）或 hotline（12345 热线）"
BAD_FORMAT = "格式应为 json、csv 或 xlsx"
BAD_BY = "应为 point（按联系点）或 district（按区县）"
UNAUTHORIZED = "需要统计接口的令牌（mashang staff token 生成）"
STAFF_DISABLED = "该工作人员账号已停用"
NO_POINT_ZH = "（无联系点）"
NO_DISTRICT_ZH = "未填区县"
OTHER_CATEGORY_ZH = "其他"
SOURCE_ZH = {"qr": "扫码", "hotline": "12345 热线"}


def not_a_date(value: str) -> str:
    return f"不是 YYYY-MM-DD 格式的日期：{value}"


def not_a_month(value: str) -> str:
    return f"不是 YYYY-MM 格式的月份：{value}"


def too_long(limit: int) -> str:
    return f"不能超过 {limit} 个字"


def range_too_long_weeks(weeks: int) -> str:
    return f"日期范围不能超过 {weeks} 周"


def range_too_long_months(months: int) -> str:
    return f"日期范围不能超过 {months} 个月"


def no_such_table(names: list[str]) -> str:
    return f"没有这张表；可选：{'、'.join(names)}"


def filter_lines(
    since: date,
    until: date,
    point: str | None,
    category: str | None,
    district: str | None,
    source: str | None,
    member: str | None,
) -> list[tuple[str, str]]:
    everything = "全部"
    lines = [
        ("日期范围（北京时间）", f"{since.isoformat()} 至 {until.isoformat()}"),
        ("联系点", point or everything),
        ("类别", category or everything),
        ("区县", district or everything),
        ("来源", SOURCE_ZH.get(source or "", everything)),
    ]
    if member is not None:
        lines.append(("委员", member))
    return lines


FILTERS_SHEET = "筛选条件"

# ---- table titles and column headers (key: the JSON field) -------------------------------------------

TABLE_TITLES = {
    "cells": "热力图（联系点或区县 × 类别 × 周）",
    "points": "联系点",
    "weeks": "每周",
    "overdue": "超期件",
    "rows": "委员每月",
    "members": "委员合计",
    "open_cases": "在办件",
    "opinions": "议题意见（条）",
    "codes": "二维码",
    "totals": "联系点合计",
}

COLUMNS = {
    "place_key": "联系点或区县代码",
    "place_name": "联系点或区县",
    "point_key": "联系点代码",
    "point_name": "联系点",
    "key": "代码",
    "name": "名称",
    "district": "区县",
    "latitude": "纬度",
    "longitude": "经度",
    "category_key": "类别代码",
    "category_name": "类别",
    "week": "周（周一）",
    "month": "月份",
    "count": "件数",
    "hotline": "其中 12345 热线",
    "baseline": "前 8 周平均（件）",
    "hot": "热点",
    "cases": "件数",
    "rated": "已回访（件）",
    "satisfied": "满意和基本满意（件）",
    "satisfaction": "满意率",
    "new_cases": "新件",
    "triaged": "已分拣",
    "triaged_on_time": "按时交办（2 天内）",
    "triage_rate": "按时交办率",
    "replied": "已答复",
    "replied_on_time": "按时答复（1 周内）",
    "reply_rate": "按时答复率",
    "visits_due": "应回访",
    "visits_recorded": "已回访",
    "visit_rate": "回访率",
    "code": "编号",
    "stage": "环节",
    "state": "状态",
    "due_at": "期限（北京时间）",
    "overdue_hours": "已超期（小时）",
    "holder_kind": "在谁手里",
    "holder_name": "经办",
    "member_key": "委员代码",
    "member_name": "委员",
    "assigned": "交办",
    "accepted": "接收",
    "avg_days_to_reply": "平均答复天数",
    "open_cases": "在办件",
    "opinions": "议题意见（条）",
    "assigned_at": "交办时间（北京时间）",
    "reply_due_at": "答复期限（北京时间）",
    "overdue": "已超期",
    "scans": "扫码次数",
    "new_followers": "新关注",
    "codes": "二维码数",
    "kind": "种类",
    "kind_name": "种类名称",
    "scene": "场景值",
    "url": "链接",
    "page": "小程序页面",
    "file_path": "文件",
    "created_at": "生成时间（北京时间）",
    "expire_at": "过期时间（北京时间）",
    "revoked": "已作废",
}

YES_ZH, NO_ZH = "是", "否"


# ---- the CLI ---------------------------------------------------------------------------------------------


def token_made(name: str, key: str, token: str) -> str:
    return (
        f"工作人员 {name}（{key}）的统计接口令牌（只读，只显示这一次，之前的令牌已作废）：\n{token}\n"
        "请求时带上 HTTP 头  Authorization: Bearer <令牌>"
    )


def no_such_staff(key: str) -> str:
    return f"名册里没有工作人员 {key}"


def staff_inactive(key: str) -> str:
    return f"工作人员 {key} 的账号已停用，不能生成令牌"


def report_written(path: str, rows: int) -> str:
    return f"已写入 {path}（{rows} 位委员）"
