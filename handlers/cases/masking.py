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


# Names: a person's name after the words that introduce one ("我叫张三", "联系人：李四", "来电人王五"),
# when it starts with one of the common surnames, becomes the surname and 某 (张某, 欧阳某某): how official
# documents write a private person. "王女士", "张师傅" are kept: they name nobody.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "令狐")
_HONORIFICS = ("先生", "女士", "小姐", "阿姨", "师傅", "老师", "大爷", "大妈", "大姐", "大哥", "某", "姓")
_NOT_IN_NAME = frozenset("来反投说称家住的是在今昨电向于和与等某，,。")
_NAME = re.compile(
    r"(?P<lead>我叫|本人叫|名叫|名字叫|名字是|姓名(?:是|为|[:：])?|联系人(?:是|为|[:：])?|来电人(?:是|为|[:：])?"
    r"|反映人(?:是|为|[:：])?|投诉人(?:是|为|[:：])?|户主(?:是|为|[:：])?|市民)[ \u3000]*"
    rf"(?P<surname>{'|'.join(_COMPOUND_SURNAMES)}|[{_SURNAMES}])(?P<given>[\u4e00-\u9fff]{{1,2}})"
)


def _masked_name(match: re.Match[str]) -> str:
    given = match.group("given")
    if given.startswith(_HONORIFICS):  # 王女士: nobody's name
        return match.group(0)
    kept = ""
    for char in given:
        if char in _NOT_IN_NAME:
            break
        kept += char
    if not kept:
        return match.group(0)
    rest = given[len(kept) :]
    return f"{match.group('lead')}{match.group('surname')}{'某' * len(kept)}{rest}"


def mask_names(text: str) -> str:
    """Private persons' names introduced as such, as surname + 某 (张三 → 张某)."""
    return _NAME.sub(_masked_name, text)


def mask_personal(text: str) -> str:
    """Phone, ID-card numbers, e-mail addresses and names: for what leaves the system (a draft report)."""
    return mask_names(mask_personal_numbers(text))
