"""What the command line says to operators about the job queue (`mashang jobs`)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from models.jobs import Job
from models.sla import LOCAL_TZ

KIND_ZH = {
    "send.citizen": "发群众",
    "send.wecom_user": "发企业微信",
    "send.triage": "发分拣群",
    "send.bot_reply": "机器人回复",
    "media.download": "下载附件",
    "citizen.unionid": "查询unionid",
    "case.created": "新件处理",
    "case.follow_ups": "转告补充",
    "sla.remind": "期限提醒",
    "sla.overdue": "超期通报",
    "visit.start": "发起回访",
    "visit.timeout": "回访超时",
}
STATUS_ZH = {"pending": "待执行", "running": "执行中", "dead": "已放弃", "done": "已完成"}


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(LOCAL_TZ)).strftime("%m-%d %H:%M")


def jobs_heading(total: int, *, dead: bool, shown: int) -> str:
    more = f"，列出前 {shown} 个（--limit 可调）" if shown < total else ""
    if dead:
        hint = "；修复原因后用 mashang jobs retry <编号> 或 --all-dead 重新发送" if total else ""
        return f"已放弃的任务 {total} 个{more}{hint}"
    return f"未完成的任务 {total} 个{more}"


def job_line(job: Job, code: str | None) -> str:
    """One job: number, kind, state, case code, attempts, next run, and why it waits or was given up."""
    status = str(job.status)
    parts = [f"{job.id:>7}", KIND_ZH.get(job.kind, job.kind), STATUS_ZH.get(status, status), code or "—"]
    parts.append(f"已试 {job.attempts} 次")
    if status != "dead":
        parts.append(f"下次 {_local(job.run_at)}")
    if job.blocked_since is not None:
        parts.append(f"配置错误，自 {_local(job.blocked_since)} 起等待修复")
    if job.last_error:
        parts.append(f"原因：{job.last_error[:160]}")
    return "  ".join(parts)


def jobs_retried(count: int) -> str:
    return f"已重新放回队列 {count} 个任务；运行中的服务会在几秒内执行。"


def jobs_not_retriable(ids: list[int]) -> str:
    listed = "、".join(str(i) for i in ids)
    return f"没有这些待重试或已放弃的任务：{listed}（用 mashang jobs list --dead 查看）；未做任何改动"
