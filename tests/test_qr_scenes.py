"""Scene strings of contact point codes: encoding, WeChat's limits, parsing scan events back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qr.scenes import (
    _WXA_SCENE_CHARS,
    OA_SCENE_MAX,
    WXA_SCENE_MAX,
    SceneError,
    contact_point_from_event_key,
    contact_point_from_wxa_scene,
    oa_scene,
    validate_key,
    wxa_scene,
)

keys = st.from_regex(r"[a-z0-9-]{1,40}", fullmatch=True)


def test_oa_scene_format() -> None:
    assert oa_scene("hospital-1") == "cp:hospital-1"


def test_longest_key_fits_the_oa_limit() -> None:
    scene = oa_scene("k" * 40)
    assert len(scene) == 43 <= OA_SCENE_MAX == 64


def test_wxa_scene_format_and_32_char_limit() -> None:
    assert wxa_scene("school-7") == "cp=school-7"
    at_limit = wxa_scene("a" * 29)
    assert len(at_limit) == WXA_SCENE_MAX == 32
    with pytest.raises(SceneError, match="32"):
        wxa_scene("a" * 30)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Hospital",
        "has space",
        "under_score",
        "医院",
        "a" * 41,
        "cp:x",
        "a/b",
        "key\n",
    ],
)
def test_bad_keys_are_rejected(bad: str) -> None:
    with pytest.raises(SceneError):
        validate_key(bad)
    with pytest.raises(SceneError):
        oa_scene(bad)
    with pytest.raises(SceneError):
        wxa_scene(bad)


@pytest.mark.parametrize(
    ("event_key", "expected"),
    [
        ("qrscene_cp:hospital-1", "hospital-1"),  # subscribe by a non-follower
        ("cp:hospital-1", "hospital-1"),  # SCAN by a follower
        ("qrscene_123", None),  # somebody else's numeric scene
        ("qrscene_", None),
        ("cp:", None),
        ("cp:Bad_Key", None),
        ("cp=hospital-1", None),  # a mini-program scene is not an event key
        ("other:hospital-1", None),
        ("", None),
        (None, None),
    ],
)
def test_event_key_parsing(event_key: str | None, expected: str | None) -> None:
    assert contact_point_from_event_key(event_key) == expected


@pytest.mark.parametrize(
    ("scene", "expected"),
    [("cp=school-7", "school-7"), ("cp:school-7", None), ("cp=", None), ("cp=UPPER", None), (None, None)],
)
def test_wxa_scene_parsing(scene: str | None, expected: str | None) -> None:
    assert contact_point_from_wxa_scene(scene) == expected


@given(keys)
def test_oa_scene_round_trips_through_both_event_kinds(key: str) -> None:
    scene = oa_scene(key)
    assert len(scene) <= OA_SCENE_MAX
    assert contact_point_from_event_key(scene) == key
    assert contact_point_from_event_key("qrscene_" + scene) == key


@given(keys)
def test_wxa_scene_round_trips_or_is_rejected_for_length(key: str) -> None:
    if len(key) + 3 > WXA_SCENE_MAX:
        with pytest.raises(SceneError):
            wxa_scene(key)
        return
    scene = wxa_scene(key)
    assert len(scene) <= WXA_SCENE_MAX
    assert _WXA_SCENE_CHARS.match(scene)
    assert contact_point_from_wxa_scene(scene) == key
