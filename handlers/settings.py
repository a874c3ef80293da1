"""What the handlers need to know from the configuration, as plain values (handlers never read config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    tracking_prefix: str = "MS"
    group_window_s: float = 600.0
    scan_binding_ttl_s: float = 86400.0
    redis_prefix: str = "ms:"
    assign_within_s: float = 2 * 86400.0
    reply_within_s: float = 7 * 86400.0

    def key(self, *parts: str) -> str:
        return self.redis_prefix + ":".join(parts)
