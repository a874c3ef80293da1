"""Mask phone numbers, ID-card numbers and e-mail addresses in anything staff or members read about a citizen.

Citizens write numbers in many ways: `13812345678`, `138 1234 5678`, `138-1234-5678`, `138.1234.5678`,
`+86 138…`, `86138…`, full-width digits (１３８…), 18-digit and old 15-digit ID numbers, spaced
(`330102 19900101 123X`). Matching runs on a normalised view of the text (NFKC, so full-width digits
and separators are ASCII) whose positions map back to the original; only the matched spans are
replaced, everything else is left exactly as written. A masked number keeps what a person needs to
tell it apart: `138****5678`, `330102********123X`, `0571-****1234`, `a***@example.com`.

Not masked: tracking codes (prefix letters, then YYMMDD…), dates (2026-12-01), amounts (5000元) and
other short numbers; a digit run longer than a pattern is left whole rather than cut into pieces.
"""

from __future__ import annotations

import re
import unicodedata

_SEP = r"[ \-.]"  # one separator a person may put between digit groups

_PATTERN = re.compile(
    # An e-mail first: "13812345678@qq.com" is an address, masked as one.
    r"(?<![A-Za-z0-9_.%+\-])(?P<mail_head>[A-Za-z0-9])[A-Za-z0-9_.%+\-]*"
    r"(?P<mail_tail>@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})(?![A-Za-z0-9\-])"
    # 18-digit ID: 6-digit region, 8-digit birth date, 3-digit sequence, check digit (digit or X).
    rf"|(?<!\d)(?P<id18_head>[1-9]\d{{5}}){_SEP}?\d{{8}}{_SEP}?(?P<id18_tail>\d{{3}}[\dXx])(?!\d)"
    # 15-digit (pre-1999) ID: 6-digit region, 6-digit birth date, 3-digit sequence.
    rf"|(?<!\d)(?P<id15_head>[1-9]\d{{5}}){_SEP}?\d{{6}}{_SEP}?(?P<id15_tail>\d{{3}})(?!\d)"
    # Mobile, optionally with the country code: +86 / 0086 / 86, then 1[3-9]x xxxx xxxx.
    rf"|(?<!\d)(?P<cc>(?:\+|00)?86{_SEP}?)?(?P<mobile_head>1[3-9]\d){_SEP}?\d{{4}}{_SEP}?(?P<mobile_tail>\d{{4}})(?!\d)"
    # Landline: area code 0xx(x), then 7-8 digits, in groups or not: 0571-8888 1234, 057188881234.
    rf"|(?<!\d)(?P<area>0\d{{2,3}})(?P<area_sep>{_SEP}?)\d{{3,4}}{_SEP}?(?P<line_tail>\d{{4}})(?!\d)",
    re.ASCII,
)


def _fold(char: str) -> str:
    """What `char` is in the view matched against: ASCII for any decimal digit (１, ١…), NFKC for the
    rest (full-width letters, ＋, －, ．, ＠, the ideographic space), but never a digit made from a
    character that is not one (①, ⒈, ㉑ stay as they are: they are list markers, not parts of a number)."""
    if char.isascii():
        return char
    if unicodedata.category(char) == "Nd":
        return str(unicodedata.digit(char))
    folded = unicodedata.normalize("NFKC", char)
    return char if any(c.isdigit() for c in folded) else folded


def _normalised(text: str) -> tuple[str, list[int]]:
    """The folded view of `text`, and for each of its characters the index in `text` it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold(char)
        chars.append(folded)
        origin.extend([index] * len(folded))
    return "".join(chars), origin


def _masked(match: re.Match[str]) -> str:
    group = match.group
    if group("mail_head"):
        return f"{group('mail_head')}***{group('mail_tail')}"
    if group("id18_head"):
        return f"{group('id18_head')}********{group('id18_tail').upper()}"
    if group("id15_head"):
        return f"{group('id15_head')}******{group('id15_tail')}"
    if group("mobile_head"):
        code = group("cc")
        country = f"{code.rstrip(' -.')} " if code else ""
        return f"{country}{group('mobile_head')}****{group('mobile_tail')}"
    return f"{group('area')}{group('area_sep') and '-'}****{group('line_tail')}"


def mask_personal_numbers(text: str) -> str:
    view, origin = _normalised(text)
    parts: list[str] = []
    done = 0  # index into `text` up to which the output is written
    for match in _PATTERN.finditer(view):
        start, end = origin[match.start()], origin[match.end() - 1] + 1
        if start < done:  # one original character folded into two matches (never for digits)
            continue
        parts.append(text[done:start])
        parts.append(_masked(match))
        done = end
    parts.append(text[done:])
    return "".join(parts)


def phone_numbers(text: str) -> list[str]:
    """The phone numbers written in `text`, each once, as digits a phone dials: 13812345678 (any
    country code dropped), 0571-88881234. The same reading as the masking, so what staff see masked is
    what `电话 <编号>` shows whole."""
    view, _ = _normalised(text)
    found: list[str] = []
    for match in _PATTERN.finditer(view):
        digits = re.sub(r"\D", "", match.group(0))
        if match.group("mobile_head"):
            number = digits[-11:]
        elif match.group("area"):
            area = match.group("area")
            number = f"{area}-{digits[len(area):]}"
        else:
            continue  # an ID-card number or an e-mail address
        if number not in found:
            found.append(number)
    return found


def excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(mask_personal_numbers(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
