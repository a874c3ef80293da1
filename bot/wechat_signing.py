"""Signature checks shared by the WeChat and WeCom callbacks (constant-time comparisons)."""

from __future__ import annotations

import hashlib
import hmac
import time


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_matches(expected_parts: tuple[str, ...], given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(sha1_signature(*expected_parts), given.lower())


def timestamp_fresh(timestamp: str | None, tolerance_s: float, now: float | None = None) -> bool:
    """WeChat's timestamp is real Unix time; a captured request replayed later falls outside the window."""
    if not timestamp or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= tolerance_s
