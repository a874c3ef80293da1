"""Outgoing texts cut to each channel's limit: in parts, at character boundaries, numbered.

The limits (wechat-facts.md), all in UTF-8 bytes of the content:

- official account: a customer-service text over 2,048 bytes is refused (45002), a passive reply that
  long is silently not shown;
- WeCom: app messages (message/send text and markdown, appchat/send) and the app's passive replies are
  cut at 2,048 bytes without an error;
- group robot webhook: markdown up to 4,096 bytes;
- smart-bot response_url: its documentation states no limit; the group robot's 4,096 bytes is assumed.

A text over the limit goes out as several messages, never truncated. Each part starts with its
number, `（1/3）`, on a line of its own, and the first part names the case's tracking code when the
message is about a case and the code is not already in it. Parts are cut at a line end where one
falls in the second half of the part, else after a sentence's end, else after a comma or space, else
between two characters (never inside a UTF-8 sequence, nor before a combining mark or a joiner that
belongs to the character before). A line end where a part is cut is dropped (the part boundary stands
for it); nothing else is: `"\n".join(bodies)` or `"".join(bodies)` gives the text back.
"""

from __future__ import annotations

import unicodedata

OA_TEXT_MAX_BYTES = 2048
PASSIVE_MAX_BYTES = 2048  # official-account and WeCom app passive replies
WECOM_TEXT_MAX_BYTES = 2048
WEBHOOK_MAX_BYTES = 4096
BOT_RESPONSE_MAX_BYTES = 4096

_SENTENCE_ENDS = frozenset("。！？!?；;…")
_SOFT_BREAKS = frozenset("，、,：: \t")
# Characters that belong to the one before them: a part must not start with one.
_JOINERS = frozenset("\u200c\u200d\ufe0e\ufe0f")


def size(text: str) -> int:
    """Bytes of `text` in UTF-8, as the platforms count."""
    return len(text.encode())


def fits(text: str, max_bytes: int) -> bool:
    return size(text) <= max_bytes


def marker(index: int, count: int) -> str:
    """The number of part `index` (1-based) of `count`: （1/3）."""
    return f"（{index}/{count}）"


def _header(index: int, count: int, code: str | None) -> str:
    return marker(index, count) + (code or "") + "\n"


def _belongs_to_previous(char: str) -> bool:
    return char in _JOINERS or unicodedata.combining(char) != 0 or unicodedata.category(char) == "Me"


def _regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _may_cut(text: str, index: int) -> bool:
    """Whether a part may end before text[index] (not inside a joined or combined character, nor a flag)."""
    if _belongs_to_previous(text[index]) or text[index - 1] == "\u200d":
        return False
    if _regional(text[index]) and _regional(text[index - 1]):
        run = 0
        while index - run - 1 >= 0 and _regional(text[index - run - 1]):
            run += 1
        return run % 2 == 0  # a flag is two regional indicators: cut only between flags
    return True


def _fit_end(text: str, start: int, budget: int) -> int:
    """The largest end such that text[start:end] fits in `budget` bytes (at least one character)."""
    used = 0
    for index in range(start, len(text)):
        used += len(text[index].encode())
        if used > budget:
            return max(index, start + 1)
    return len(text)


def _cut(text: str, start: int, end: int) -> tuple[int, int]:
    """(end of this part, start of the next) for a part that may reach at most `end`."""
    half = start + (end - start) // 2
    newline = text.rfind("\n", half, end + 1)  # a line end at `end` itself is dropped: the part fits
    if newline > start:
        return newline, newline + 1
    for chars in (_SENTENCE_ENDS, _SOFT_BREAKS):
        for index in range(end - 1, half - 1, -1):
            if text[index] in chars and _may_cut(text, index + 1):
                return index + 1, index + 1
    cut = end
    while cut > start + 1 and not _may_cut(text, cut):
        cut -= 1
    return cut, cut


def split_text(text: str, max_bytes: int, *, code: str | None = None) -> list[str]:
    """`text` as it goes out on a channel taking at most `max_bytes`: itself when it fits, else numbered
    parts each within the limit (the first naming `code` when given and not in it)."""
    if fits(text, max_bytes):
        return [text]
    count = 9
    while True:
        # Room for the longest header any part can get with this many parts.
        reserve = size(_header(count, count, code))
        if reserve >= max_bytes // 2:
            raise ValueError(f"a limit of {max_bytes} bytes leaves no room for the text")
        bodies = [body for body in _split_bodies(text, max_bytes - reserve) if body.strip()]
        if len(bodies) <= count:
            break
        count = count * 10 + 9
    total = len(bodies)
    parts = []
    for index, body in enumerate(bodies, start=1):
        named = code if index == 1 and code and code not in body else None
        parts.append(_header(index, total, named) + body)
    return parts


def _split_bodies(text: str, budget: int) -> list[str]:
    bodies: list[str] = []
    start = 0
    while start < len(text):
        end = _fit_end(text, start, budget)
        if end >= len(text):
            bodies.append(text[start:])
            break
        stop, following = _cut(text, start, end)
        bodies.append(text[start:stop])
        start = following
    return bodies


def body_of(part: str) -> str:
    """A part without its number line (tests and the timeline put the text back together)."""
    if part.startswith("（") and "）" in part.split("\n", 1)[0] and "\n" in part:
        head, rest = part.split("\n", 1)
        number = head[1 : head.index("）")]
        if "/" in number and all(piece.isdigit() for piece in number.split("/")):
            return rest
    return part
