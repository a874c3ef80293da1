"""Masking personal numbers: every way a citizen writes a phone, ID or e-mail, and what must survive."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.cases.masking import excerpt, mask_personal_numbers
from models.tracking import format_code


def full_width(text: str) -> str:
    """How a Chinese input method in full-width mode types it: １３８－１２３４ ＋８６."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("138.1234.5678", "138****5678"),
        ("+8613812345678", "+86 138****5678"),
        ("8613812345678", "86 138****5678"),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("+86-138-1234-5678", "+86 138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("１３８－１２３４－５６７８", "138****5678"),
        ("＋８６　１３８　１２３４　５６７８", "+86 138****5678"),
        ("330102199001011234", "330102********1234"),
        ("33010219900101123X", "330102********123X"),
        ("33010219900101123x", "330102********123X"),
        ("330102 19900101 123X", "330102********123X"),
        ("330102-19900101-1234", "330102********1234"),
        ("３３０１０２１９９００１０１１２３Ｘ", "330102********123X"),
        ("330102900101123", "330102******123"),
        ("330102 900101 123", "330102******123"),
        ("zhang.san@example.com", "z***@example.com"),
        ("a@example.com", "a***@example.com"),
        ("13812345678@qq.com", "1***@qq.com"),
        ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "z***@example.com"),
        ("0571-88881234", "0571-****1234"),
        ("0571-8888 1234", "0571-****1234"),
        ("057188881234", "0571****1234"),
        ("010-12345678", "010-****5678"),
    ],
)
def test_each_format_is_masked_readably(written: str, masked: str) -> None:
    text = f"我的联系方式：{written}，谢谢。"
    assert mask_personal_numbers(text) == f"我的联系方式：{masked}，谢谢。"


@pytest.mark.parametrize(
    "kept",
    [
        "MS26120100017",
        "ms 2612010001 7",
        "2026-12-01",
        "2026.12.01",
        "2026/12/01",
        "20261201",
        "2026年12月1日 13:30",
        "5000元",
        "3号楼2单元501室",
        "12345",
        "110",
        "12345678",  # a local number without its area code: too short to tell
        "①②③",
        "3#楼",
        "1234567890123456789",  # longer than any pattern: left whole, not cut into pieces
    ],
)
def test_what_is_not_a_personal_number_is_left_alone(kept: str) -> None:
    text = f"编号与说明：{kept}。"
    assert mask_personal_numbers(text) == text


def test_only_the_numbers_change_and_the_rest_stays_as_written() -> None:
    text = "［点此］＜@all＞ 电话１３８１２３４５６７８，（备用 139-8765-4321）"
    assert mask_personal_numbers(text) == "［点此］＜@all＞ 电话138****5678，（备用 139****4321）"


def test_a_list_marker_next_to_a_number_does_not_hide_it() -> None:
    assert mask_personal_numbers("①13812345678②13987654321") == "①138****5678②139****4321"


def test_two_numbers_side_by_side_are_both_masked() -> None:
    assert mask_personal_numbers("13812345678 13987654321") == "138****5678 139****4321"
    assert mask_personal_numbers("13812345678/330102199001011234") == "138****5678/330102********1234"


def test_excerpt_masks_flattens_and_cuts() -> None:
    assert excerpt("电话\n138 1234 5678\n\n地址某路", 12) == "电话 138****5…"
    assert excerpt("电话\n138 1234 5678\n\n地址某路") == "电话 138****5678 地址某路"


# ---- property: generated numbers in every format, embedded in random Chinese text -------------------

chinese = st.text(
    alphabet=st.one_of(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), st.sampled_from("，。！？：；、")),
    max_size=12,
)
separator = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=6)


@st.composite
def mobiles(draw: st.DrawFn) -> tuple[str, str, str]:
    """(digits, as written, masked form)"""
    digits = "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))
    a, b, c = digits[:3], digits[3:7], digits[7:]
    shapes = [
        digits,
        f"{a} {b} {c}",
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"+86{digits}",
        f"86{digits}",
        f"+86 {a} {b} {c}",
        f"0086-{a}-{b}-{c}",
    ]
    written = draw(st.sampled_from(shapes))
    if draw(st.booleans()):
        written = full_width(written)
    return digits, written, f"{a}****{c}"


ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@st.composite
def id_numbers(draw: st.DrawFn) -> tuple[str, str, str]:
    region = draw(st.sampled_from("1234567")) + draw(st.text("0123456789", min_size=5, max_size=5))
    born = date(1930, 1, 1) + timedelta(days=draw(st.integers(0, 30000)))
    sequence = draw(st.text("0123456789", min_size=3, max_size=3))
    if draw(st.booleans()):  # 15-digit (old) ID
        digits = f"{region}{born:%y%m%d}{sequence}"
        shapes = [digits, f"{region} {born:%y%m%d} {sequence}"]
        masked = f"{region}******{sequence}"
    else:
        body = f"{region}{born:%Y%m%d}{sequence}"
        check = "10X98765432"[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]
        digits = body + check
        shapes = [digits, f"{region} {born:%Y%m%d} {sequence}{check}", f"{region}-{born:%Y%m%d}-{sequence}{check}"]
        masked = f"{region}********{sequence}{check}"
    written = draw(st.sampled_from(shapes))
    if draw(st.booleans()):
        written = full_width(written)
    return digits, written, masked


@st.composite
def emails(draw: st.DrawFn) -> tuple[str, str, str]:
    local = draw(st.from_regex(r"[a-z0-9][a-z0-9._]{0,10}", fullmatch=True))
    domain = draw(st.sampled_from(["example.com", "qq.com", "163.com", "mail.hz.gov.cn"]))
    return f"{local}@", f"{local}@{domain}", f"{local[0]}***@{domain}"


@st.composite
def safe_items(draw: st.DrawFn) -> str:
    day = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
    sequence = draw(st.integers(1, 99999))
    return draw(
        st.sampled_from(
            [
                format_code("MS", f"{day:%y%m%d}", sequence),
                f"{day:%Y-%m-%d}",
                f"{day:%Y.%m.%d}",
                f"{day:%Y年%m月%d日}",
                f"{sequence}元",
            ]
        )
    )


def _digits_only(text: str) -> str:
    return re.sub(r"[ \-.+]", "", unicodedata.normalize("NFKC", text))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(mobiles(), id_numbers(), emails()), min_size=1, max_size=4),
    st.lists(safe_items(), max_size=3),
    st.lists(separator, min_size=8, max_size=8),
    chinese,
    chinese,
    st.randoms(use_true_random=False),
)
def test_no_generated_number_survives_masking_and_codes_and_dates_do(
    numbers: list[tuple[str, str, str]],
    kept: list[str],
    gaps: list[str],
    head: str,
    tail: str,
    random: Random,
) -> None:
    items = [written for _, written, _ in numbers] + kept
    random.shuffle(items)
    text = head + "".join(item + gap for item, gap in zip(items, gaps, strict=False)) + tail
    masked = mask_personal_numbers(text)
    flat = _digits_only(masked)
    for digits, written, readable in numbers:
        assert written not in masked
        assert digits not in flat  # not even with the separators or the full width taken away
        assert readable in masked
    for item in kept:
        assert item in masked
