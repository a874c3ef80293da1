"""Splitting outgoing texts under each channel's byte limit (bot/outbound/parts.py)."""

from __future__ import annotations

import pytest

from bot.outbound.parts import body_of, fits, marker, size, split_text

CODE = "MS26112300421"


def numbers(parts: list[str]) -> list[str]:
    return [part.split("\n", 1)[0].removesuffix(CODE) for part in parts]


def test_a_text_that_fits_goes_out_as_it_is() -> None:
    assert split_text("短", 2048) == ["短"]
    exactly = "字" * 682 + "ab"  # 2,048 bytes
    assert size(exactly) == 2048
    assert split_text(exactly, 2048, code=CODE) == [exactly]


def test_2000_characters_in_numbered_parts_under_the_limit() -> None:
    text = "群" * 2000  # 6,000 bytes, no line ends, no punctuation
    parts = split_text(text, 2048, code=CODE)
    assert len(parts) == 3
    assert all(fits(part, 2048) for part in parts)
    assert numbers(parts) == ["（1/3）", "（2/3）", "（3/3）"]
    assert parts[0].startswith(f"（1/3）{CODE}\n")  # the first part names the case
    assert CODE not in parts[1] + parts[2]
    assert "".join(body_of(part) for part in parts) == text  # whole, nothing cut off


def test_the_code_is_not_repeated_when_the_text_names_it() -> None:
    text = f"【答复】您的诉求（编号 {CODE}）：" + "已协调。" * 600
    parts = split_text(text, 2048, code=CODE)
    assert parts[0].startswith("（1/")
    assert parts[0].split("\n", 1)[0] == marker(1, len(parts))
    assert parts[0].count(CODE) == 1


def test_parts_end_at_line_ends_then_sentences() -> None:
    lines = [f"12月{i}日 10:00 工作人员李四 发送消息（分拣群）" + "内容" * 10 for i in range(1, 60)]
    text = "\n".join(lines)
    parts = split_text(text, 2048)
    assert len(parts) > 1
    assert all(fits(part, 2048) for part in parts)
    assert "\n".join(body_of(part) for part in parts) == text  # only the line ends at the cuts dropped
    assert all(body_of(part).split("\n")[0] in lines for part in parts)  # no line cut in two

    sentences = "这是第一句话。" * 400
    parts = split_text(sentences, 2048)
    assert all(body_of(part).endswith("。") for part in parts)
    assert "".join(body_of(part) for part in parts) == sentences


def test_cuts_fall_between_characters_never_inside_one() -> None:
    for text in ("e\u0301" * 1500, "👨\u200d👩\u200d👧" * 300, "a" + "🇨🇳" * 700 + "a\ufe0f" * 700, "𠀀" * 1200):
        parts = split_text(text, 2048)
        assert all(fits(part, 2048) for part in parts)
        for part in parts:
            body = body_of(part)
            assert body.encode().decode() == body
            assert body[0] not in "\u0301\u200d\ufe0f"
            assert body[-1] != "\u200d"
            if body.startswith("🇨"):
                assert body.count("🇨") == body.count("🇳")  # flags stay whole
        assert "".join(body_of(part) for part in parts) == text


def test_many_parts_keep_their_numbers_in_the_limit() -> None:
    text = "议" * 40_000  # 120,000 bytes: more than 9 parts at 2,048
    parts = split_text(text, 2048, code=CODE)
    assert len(parts) >= 59
    assert all(fits(part, 2048) for part in parts)
    assert numbers(parts)[-1] == f"（{len(parts)}/{len(parts)}）"
    assert "".join(body_of(part) for part in parts) == text


def test_robot_markdown_takes_4096_bytes() -> None:
    text = "**MS1** " + "超期" * 1500  # 9,008 bytes
    parts = split_text(text, 4096)
    assert len(parts) == 3
    assert all(fits(part, 4096) for part in parts)


def test_body_of_leaves_unnumbered_text_alone() -> None:
    assert body_of("（注）不是编号\n正文") == "（注）不是编号\n正文"
    assert body_of("短") == "短"


def test_a_limit_too_small_for_the_number_is_an_error() -> None:
    with pytest.raises(ValueError, match="no room"):
        split_text("字" * 100, 20, code=CODE)
