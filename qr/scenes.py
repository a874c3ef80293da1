"""QR scene strings for contact points, and parsing them back out of WeChat scan events.

Official-account codes carry scene `cp:<key>`; a non-follower's scan arrives as a subscribe event
with EventKey `qrscene_cp:<key>`, a follower's as SCAN with EventKey `cp:<key>`.
Mini-program codes carry scene `cp=<key>` (at most 32 visible characters).
"""

from __future__ import annotations

import re

KEY_RE = re.compile(r"[a-z0-9-]{1,40}")
OA_SCENE_MAX = 64
WXA_SCENE_MAX = 32
_WXA_SCENE_CHARS = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+")


class SceneError(ValueError):
    """A contact point key or scene does not fit WeChat's rules."""


def validate_key(key: str) -> str:
    if not KEY_RE.fullmatch(key):
        raise SceneError(f"联系点代号须为 1 至 40 个小写字母、数字或「-」：{key!r}")
    return key


def oa_scene(key: str) -> str:
    """Scene string for an official-account parametric code (QR_LIMIT_STR_SCENE, 1-64 chars)."""
    scene = f"cp:{validate_key(key)}"
    if len(scene) > OA_SCENE_MAX:
        raise SceneError(f"场景值 {scene!r} 超过 {OA_SCENE_MAX} 个字符")
    return scene


def wxa_scene(key: str) -> str:
    """Scene for a mini-program code (getwxacodeunlimit): at most 32 visible characters."""
    scene = f"cp={validate_key(key)}"
    if len(scene) > WXA_SCENE_MAX:
        raise SceneError(
            f"小程序码场景值 {scene!r} 有 {len(scene)} 个字符，微信最多允许 {WXA_SCENE_MAX} 个："
            f"联系点代号请不超过 {WXA_SCENE_MAX - 3} 个字符"
        )
    if not _WXA_SCENE_CHARS.fullmatch(scene):
        raise SceneError(f"小程序码场景值 {scene!r} 含有微信不允许的字符")
    return scene


def contact_point_from_event_key(event_key: str | None) -> str | None:
    """The contact point key in a subscribe/SCAN EventKey, or None when it is not one of ours."""
    if not event_key:
        return None
    scene = event_key.removeprefix("qrscene_")
    if not scene.startswith("cp:"):
        return None
    key = scene[3:]
    return key if KEY_RE.fullmatch(key) else None


def contact_point_from_wxa_scene(scene: str | None) -> str | None:
    """The contact point key in a mini-program scene `cp=<key>`, or None."""
    if not scene or not scene.startswith("cp="):
        return None
    key = scene[3:]
    return key if KEY_RE.fullmatch(key) else None


def topic_scene(key: str) -> str:
    """Scene for a 码上商量 consultation topic's mini-program code: `tp=<key>` (at most 32 characters)."""
    scene = f"tp={validate_key(key)}"
    if len(scene) > WXA_SCENE_MAX:
        raise SceneError(f"mini-program scene {scene!r} has {len(scene)} characters; WeChat allows {WXA_SCENE_MAX}")
    return scene


def topic_from_wxa_scene(scene: str | None) -> str | None:
    """The topic key in a mini-program scene `tp=<key>`, or None (the front end reads its page's scene)."""
    if not scene or not scene.startswith("tp="):
        return None
    key = scene[3:]
    return key if KEY_RE.fullmatch(key) and len(scene) <= WXA_SCENE_MAX else None
