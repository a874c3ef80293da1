"""Telling the operators what to fix: one alert per cause (platform and errcode) and period.

A job refused by a configuration error (bot/outbound/retry.py: `misconfigured`) or by today's API quota
(`daily_quota`) carries a `Cause`; the job runner hands it here (`JobRunner.on_alert`). The first job
of a cause in a period (a day by default) posts an alert to the triage group, in Chinese, saying what
to fix (handlers/texts/staff.py: `config_alert`, `quota_alert`); the others only log. When the triage
group itself is what fails (its robot's key, or the WeCom app when the group is an appchat), the alert
goes to the log, at ERROR, instead: a message queued behind the failure would only arrive after the fix.

Which cause was told when is kept in Redis under `<prefix>alert:<platform>:<errcode>` (the business
time of the last alert), so that several processes tell it once.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from bot.job_runner import RetryLater
from bot.outbound.retry import DAILY_QUOTA, Cause
from handlers import payloads
from handlers.cases.outbox import SEND_TRIAGE
from handlers.texts import staff as texts
from models.jobs import Job, enqueue
from models.timeutil import get_clock, now

log = logging.getLogger(__name__)

ALERT_PERIOD_S = 86400.0
# Set the key to the alert's time unless it holds a time less than a period ago: 1 when this one alerts.
_FIRST_IN_PERIOD = """
local last = redis.call('get', KEYS[1])
if last and tonumber(last) > tonumber(ARGV[1]) - tonumber(ARGV[2]) then
    return 0
end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


class Alerts:
    def __init__(
        self,
        redis: aioredis.Redis,
        key_prefix: str,
        *,
        triage_chat_id: str,
        retry_s: float,
        ceiling_s: float,
        period_s: float = ALERT_PERIOD_S,
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.triage_by_appchat = bool(triage_chat_id)
        self.retry_s = retry_s
        self.ceiling_s = ceiling_s
        self.period_s = period_s

    async def __call__(self, job: Job, exc: RetryLater) -> None:
        cause = exc.cause
        if not isinstance(cause, Cause) or not await self._first_in_period(cause):
            return
        if cause.errcode == DAILY_QUOTA:
            text = texts.quota_alert(cause.platform, cause.errmsg)
        else:
            text = texts.config_alert(
                cause.platform,
                cause.errcode,
                cause.errmsg,
                retry_minutes=max(1, round(self.retry_s / 60)),
                ceiling_hours=max(1, round(self.ceiling_s / 3600)),
            )
        if self._triage_fails(job, cause):
            log.error("ALERT for the operators (the triage group itself cannot be reached): %s", text)
            return
        log.warning("alerting the triage group: %s error %s (job %s)", cause.platform, cause.errcode, job.id)
        stamp = int(now().timestamp())
        await enqueue(
            SEND_TRIAGE,
            payloads.send_triage(text, case_code=None),
            key=f"alert:{cause.platform}:{cause.errcode}:{stamp}",
        )

    def _triage_fails(self, job: Job, cause: Cause) -> bool:
        """Whether the triage group is what this cause refuses (so an alert there would wait behind it)."""
        if job.kind == SEND_TRIAGE:
            return True
        return cause.platform == ("wecom" if self.triage_by_appchat else "webhook")

    async def _first_in_period(self, cause: Cause) -> bool:
        key = f"{self.key_prefix}alert:{cause.platform}:{cause.errcode}"
        moment = now().timestamp()
        # The key outlives the period in real time whatever the business clock's speed (one to one in tests).
        keep_s = int(get_clock().to_real_seconds(self.period_s)) + 3600
        first = await self.redis.eval(_FIRST_IN_PERIOD, 1, key, str(moment), str(self.period_s), str(keep_s))
        return bool(first)
