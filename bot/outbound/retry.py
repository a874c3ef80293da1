"""How the delivery workers turn platform failures into job retries."""

from __future__ import annotations

from bot.job_runner import RetryLater
from bot.outbound.wechat_api import TokenRejected, WeChatUnavailable
from models.timeutil import get_clock


def business_seconds(real_s: float) -> float:
    """A real-time wait as business seconds (the job queue runs on the business clock)."""
    return real_s / get_clock().to_real_seconds(1.0)


def unavailable(exc: WeChatUnavailable, platform: str = "WeChat") -> RetryLater:
    """Retry later. A token the platform keeps rejecting is no fault of the message: the try is not
    counted against the job's attempts (it must never die of it) and waits until a new try can do more
    (the 30 s between forced refreshes, the next day once today's are used)."""
    if isinstance(exc, TokenRejected):
        return RetryLater(
            f"{platform} token rejected: {exc}",
            delay_s=business_seconds(exc.retry_after_s),
            count_attempt=False,
        )
    return RetryLater(f"{platform} unavailable: {exc}")
