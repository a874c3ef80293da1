"""What an operator reads from `mashang import hotline`: refused rows, problems with the file or the
mapping, and the summary. Every value quoted from the file is masked (a phone number in a refused row
shows as 138****1234) and cut short."""

from __future__ import annotations

from collections.abc import Iterable

from handlers.cases.masking import excerpt

OTHER_CATEGORY_ZH = "其他"
KIND_ZH = {"csv": "CSV", "xlsx": "XLSX"}

# Our field → how the mapping's [columns] table names it, for messages about the mapping.
FIELD_ZH = {
    "external_id": "工单编号",
    "received_at": "受理时间",
    "text": "诉求内容",
    "district": "所属区县",
    "category": "诉求类别",
    "status": "办理状态",
    "address": "事发地址",
    "phone": "来电号码",
}


def quoted(value: str) -> str:
    return '"' + excerpt(value, 40).replace('"', "'") + '"'


# ---- a refused row: 第 17 行：受理时间 "2026-13-01"：不是 %Y-%m-%d %H:%M:%S 格式的时间 ---------------


def refused(line: int, column: str, value: str, reason: str) -> str:
    return f"第 {line} 行：{column} {quoted(value)}：{reason}"


def not_a_time(time_format: str) -> str:
    return f"不是 {time_format} 格式的时间"


EMPTY = "为空"


def too_long(limit: int) -> str:
    return f"超过 {limit} 个字符"


def in_the_future(now_text: str) -> str:
    return f"晚于现在（北京时间 {now_text}）"


def unknown_status(known: Iterable[str]) -> str:
    listed = "、".join(f'"{value}"' for value in known) or "无"
    return f"不在映射的 [status] 里（已映射：{listed}），请补上它对应 open 还是 closed"


def duplicate_differs(first_line: int) -> str:
    return f"与第 {first_line} 行的工单编号相同而内容不同，未导入（请核对是哪一行有误）"


# ---- the file or the mapping cannot be used (exit 1) ------------------------------------------------


def cannot_read(path: str, reason: str) -> str:
    return f"无法读取 {path}：{reason}"


def bad_mapping(path: str, reason: str) -> str:
    return f"映射文件 {path} 无法使用：{reason}"


NOT_FOUND = "文件不存在"
EMPTY_FILE = "文件是空的"
NO_HEADER = "没有表头行"
UTF16 = "是 UTF-16 编码的文本，请在 Excel 里另存为「CSV UTF-8」或 .xlsx"
OLD_XLS = "是旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV"
UNKNOWN_ENCODING = "既不是 UTF-8 也不是 GB18030 编码的文本"
SHEET_FOR_CSV = "是 CSV 文件，--sheet 只用于 .xlsx"


def not_a_workbook(reason: str) -> str:
    return f"不是可读的 .xlsx 文件（{reason}）"


def no_such_sheet(name: str, sheets: Iterable[str]) -> str:
    return f"没有工作表「{name}」（有：{'、'.join(sheets)}）"


def csv_broken(line: int, reason: str) -> str:
    return f"第 {line} 行附近 CSV 格式有误（{reason}）"


def missing_columns(missing: list[tuple[str, str]], headers: Iterable[str]) -> str:
    """`missing`: (our field, the column the mapping names)."""
    named = "、".join(f"「{column}」（[columns] {field}）" for field, column in missing)
    present = "、".join(f"「{h}」" for h in headers if h) or "无"
    return f"文件里没有映射要求的列 {named}；文件的列：{present}"


def ambiguous_column(column: str) -> str:
    return f"表头里有不止一列叫「{column}」"


def not_toml(reason: str) -> str:
    return f"不是有效的 TOML（{reason}）"


def unknown_section(name: str) -> str:
    return f"未知的段 [{name}]（可用：[columns]、[time]、[categories]、[status]）"


def unknown_field(name: str) -> str:
    return f"[columns] 里的 {name} 不是可映射的字段（可用：{'、'.join(FIELD_ZH)}）"


def missing_field(name: str) -> str:
    return f"[columns] 缺少 {name}（{FIELD_ZH[name]}所在列的表头）"


def must_be_text(where: str) -> str:
    return f"{where} 必须是非空的字符串"


def bad_status_value(value: str, target: str) -> str:
    return f'[status] "{value}" = "{target}"：只能映射到 open 或 closed'


STATUS_WITHOUT_COLUMN = "有 [status] 映射，但 [columns] 没有 status 列"
STATUS_WITHOUT_MAPPING = "[columns] 有 status 列，但没有 [status] 映射（文件里的值各对应 open 还是 closed）"


def bad_time_format(time_format: str) -> str:
    return f"[time] format = {time_format!r} 不是 strptime 格式（如 %Y-%m-%d %H:%M:%S）"


def unknown_categories(keys: Iterable[str], known: Iterable[str]) -> str:
    listed = "、".join(keys)
    return f"[categories] 指向花名册里没有的类别代号：{listed}（花名册里有：{'、'.join(known) or '无'}）"


# ---- the summary ------------------------------------------------------------------------------------


def heading(path: str, kind: str, encoding: str | None, sheet: str | None, dry_run: bool) -> str:
    how = KIND_ZH[kind] + (f"，{encoding}" if encoding else "") + (f"，工作表「{sheet}」" if sheet else "")
    return f"导入热线工单 {path}（{how}）" + ("：试运行，不写入数据库" if dry_run else "")


def more_refused(count: int) -> str:
    return f"……另有 {count} 行被拒绝，未逐行列出"


def unmapped_categories(counts: list[tuple[str, int]], other_name: str) -> str:
    listed = "、".join(f"「{value or '（空）'}」{count} 行" for value, count in counts)
    return f"映射里没有的类别，已归入「{other_name}」：{listed}"


def summary(
    rows: int, new: int, updated: int, status_changed: int, unchanged: int, duplicates: int, refused: int, dry_run: bool
) -> str:
    would = "将" if dry_run else ""
    parts = [
        f"{would}新增 {new}",
        f"{would}更新 {updated}" + (f"（其中办理状态变化 {status_changed}）" if updated else ""),
        f"未变 {unchanged}" + (f"（其中文件内重复的行 {duplicates}）" if duplicates else ""),
        f"拒绝 {refused}",
    ]
    return f"共 {rows} 行：" + "，".join(parts)


def outcome(refused: int, dry_run: bool) -> str:
    if dry_run:
        return "试运行：数据库没有改动。" + ("" if not refused else "被拒绝的行修正后再导入即可。")
    if refused:
        return "其余各行已导入；被拒绝的行修正后重新导入同一文件即可（已导入的行不会重复）。"
    return "全部导入。重复导入同一文件不会改变任何数据。"
