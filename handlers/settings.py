"""What the handlers need to know from the configuration, as plain values (handlers never read config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.sla import SlaPolicy


def _default_sla() -> SlaPolicy:
    return SlaPolicy.from_values(
        assign_within="2d",
        reply_within="7d",
        urgent_factor=0.5,
        remind_at=0.75,
        return_visit_after="1d",
        return_visit_timeout="3d",
    )


@dataclass(frozen=True)
class Settings:
    tracking_prefix: str = "MS"
    group_window_s: float = 600.0
    scan_binding_ttl_s: float = 86400.0
    redis_prefix: str = "ms:"
    sla: SlaPolicy = field(default_factory=_default_sla)
    # The citizen's case page: absolute links start with the service's public address ([server]).
    public_base_url: str = "http://127.0.0.1:8080"
    case_link_ttl_s: float = 30 * 86400.0
    # Staff's links to a citizen's voice, image or video ([intake] media_link_ttl).
    media_link_ttl_s: float = 30 * 86400.0
    # Similar cases ([similar]): the grouping threshold, the most cases compared.
    similar_threshold: float = 0.2
    similar_max_cases: int = 200_000
    # A report file goes to the triage group when it is an appchat ([wecom] triage_chat_id), else to the
    # staff member who asked: a group robot webhook gets no file the app uploaded.
    triage_group_files: bool = False

    def key(self, *parts: str) -> str:
        return self.redis_prefix + ":".join(parts)
