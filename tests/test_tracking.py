import asyncio
import random
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from models.db import close_db, init_db
from models.timeutil import now
from models.tracking import damm_digit, find_code, format_code, is_valid_code, next_code


def test_format_matches_the_documented_shape() -> None:
    code = format_code("MS", "261123", 42)
    assert code.startswith("MS2611230042")
    assert len(code) == 13
    assert is_valid_code(code, "MS")
    assert format_code("MS", "261123", 12345)[:13] == "MS26112312345"


@given(day=st.integers(0, 999999), seq=st.integers(1, 99999))
def test_every_single_digit_error_and_adjacent_swap_is_invalid(day: int, seq: int) -> None:
    code = format_code("MS", f"{day:06d}", seq)
    digits = code[2:]
    for position, original in enumerate(digits):
        for replacement in "0123456789":
            if replacement != original:
                typo = "MS" + digits[:position] + replacement + digits[position + 1 :]
                assert not is_valid_code(typo, "MS"), typo
    for position in range(len(digits) - 1):
        a, b = digits[position], digits[position + 1]
        if a != b:
            swapped = "MS" + digits[:position] + b + a + digits[position + 2 :]
            assert not is_valid_code(swapped, "MS"), swapped


def test_find_code_tolerates_case_and_spaces_and_flags_typos() -> None:
    code = format_code("MS", "261123", 7)
    found = find_code(f"请问 {code.lower()} 进展如何", "MS")
    assert found is not None
    assert found.code == code
    assert found.valid
    spaced = find_code(f"{code[:8]} {code[8:]}", "MS")
    assert spaced is not None
    assert spaced.code == code
    assert spaced.valid
    typo = code[:-1] + str((int(code[-1]) + 1) % 10)
    checked = find_code(typo, "MS")
    assert checked is not None
    assert not checked.valid
    assert find_code("电话 13812345678", "MS") is None
    assert damm_digit(code[2:]) == 0


async def test_codes_are_unique_under_concurrency(database_url: str) -> None:
    if database_url.startswith("postgres"):
        from tests.conftest import reset_postgres

        await reset_postgres(database_url)
    await init_db(database_url)
    try:
        moment = now()
        codes = await asyncio.gather(*[next_code("MS", moment) for _ in range(60)])
        assert len(set(codes)) == 60
        sequences = sorted(int(c[8:-1]) for c in codes)
        assert sequences == list(range(1, 61))
        assert all(is_valid_code(c, "MS") for c in random.sample(codes, 10))
    finally:
        await close_db()


def test_a_code_takes_spaces_where_people_type_them_and_never_eats_the_text_after_it() -> None:
    code = format_code("MS", "261123", 17)
    for typed in (f"{code} 3号楼门口也有", f"{code}　12号楼", f"{code} 2 个", f"请问{code}，3号楼呢"):
        found = find_code(typed, "MS")
        assert found is not None, typed
        assert (found.code, found.valid) == (code, True), typed
    for spaced in (
        f"MS {code[2:]}",
        f"{code[:8]} {code[8:]}",
        f"ms {code[2:8]}　{code[8:]}",
        code.replace("MS", "ＭＳ"),
    ):
        found = find_code(spaced.replace("ＭＳ", "MS"), "MS")
        assert found is not None, spaced
        assert found.code == code, spaced
    wide = find_code("MS" + code[2:].translate(str.maketrans("0123456789", "０１２３４５６７８９")), "MS")
    assert wide is not None
    assert wide.code == code
    assert find_code(f"{code[:8]}\n{code[8:]}", "MS") is None  # not across a line break


REPO = Path(__file__).resolve().parent.parent
# What reads as a tracking code in prose: the prefix, digits, and a trailing letter standing for the check digit.
_DOC_CODE = re.compile(r"(?<![A-Za-z0-9])MS\d{6,}[A-Za-z]?(?![A-Za-z0-9])")


def documented_codes() -> dict[str, list[str]]:
    files = [REPO / "README.md", REPO / "config.example.toml", *sorted((REPO / "docs").glob("*.md"))]
    return {str(path.relative_to(REPO)): _DOC_CODE.findall(path.read_text(encoding="utf-8")) for path in files}


def test_every_tracking_code_in_the_readme_and_docs_has_its_check_digit() -> None:
    found = documented_codes()
    assert found["README.md"], "the README shows a tracking code"
    wrong = {name: [c for c in codes if not is_valid_code(c, "MS")] for name, codes in found.items()}
    assert not {name: codes for name, codes in wrong.items() if codes}, "copy a code that format_code made"


def test_the_docs_check_finds_a_code_without_its_check_digit() -> None:
    assert not is_valid_code("MS2611230001X", "MS")
    assert _DOC_CODE.findall("例如 MS2611230001X 或 MS26112300016。") == ["MS2611230001X", "MS26112300016"]
