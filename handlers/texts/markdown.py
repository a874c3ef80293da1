"""WeCom markdown: the markup we add, and `escape` for text a stranger wrote so that it cannot add any.

WeCom's markdown (message/send, appchat/send, the group robot, the smart bot's answers) knows
`# heading` at a line start, `**bold**`, `[text](url)` links, `` `code` ``, `> quote` at a line start,
`<font color="info|comment|warning">` and `<@userid>` mentions (`<@all>` notifies the whole group).

Citizen text, nicknames, location labels, link titles and urls, reasons, command lines: everything
that did not come from this code goes through `escape` before it is put into a markdown message.
`escape` swaps each marker for its full-width twin (［］（）＜＞＊｀～, ＃ at a line start, ＆ of an
entity, ：// of an address), the form Chinese text uses anyway: the message reads the same, in markdown
and in channels that show markers as typed, but no link, mention, tag, bold, code or quote can be
formed. One character for one, so an excerpt is as long after escaping as before. Escape before
masking (handlers.cases.masking): the masks' own `*` then stay as they are (138****5678).

The builders (`bold`, `quote`, `font`, `link`, `code`) take markdown: our own text, or text already
escaped. `plain` turns a markdown message into plain text for channels where markers show as typed
(a WeCom app's passive reply, text messages).
"""

from __future__ import annotations

import re
from urllib.parse import quote as url_quote
from urllib.parse import urlsplit

COLORS = ("info", "comment", "warning")  # green, grey, orange: the only colours WeCom knows

_TWINS = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "<": "＜",
        ">": "＞",
        "*": "＊",
        "`": "｀",
        "~": "～",  # ~~strike~~ in WeCom's newer markdown
    }
)
_NEWLINES = re.compile(r"\r\n?|[\x85\u2028\u2029\v\f]")
# Control characters and the bidirectional overrides that make text read other than it is stored.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_BLANK_LINES = re.compile(r"\n{3,}")
_HEADING = re.compile(r"^([^\S\n]*)#", re.M)
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")  # &lt; &#60; would come back as the marker itself


def escape(user_text: str) -> str:
    """Text a stranger wrote, safe to put anywhere in a markdown message (and as readable as before)."""
    text = _NEWLINES.sub("\n", user_text).replace("\t", " ")
    text = _INVISIBLE.sub("", text)
    text = _BLANK_LINES.sub("\n\n", text)
    text = text.translate(_TWINS)
    text = _HEADING.sub(r"\1＃", text)
    text = _ENTITY.sub("＆", text)
    return text.replace("://", "：//")  # http://… that a client would make clickable


def bold(markdown: str) -> str:
    return f"**{markdown}**"


def code(markdown: str) -> str:
    return f"`{markdown}`"


def quote(markdown: str) -> str:
    """Every line a quote line (one `>` per line: a blank line would end the quote)."""
    return "\n".join(f"> {line}" for line in markdown.split("\n"))


def font(color: str, markdown: str) -> str:
    if color not in COLORS:
        raise ValueError(f"WeCom markdown has no colour {color!r} (only {', '.join(COLORS)})")
    return f'<font color="{color}">{markdown}</font>'


def link(markdown: str, url: str) -> str:
    """A link to an http(s) address of ours; a url a stranger gave is shown with `escape`, never linked."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) url: {url!r}")
    safe = url_quote(url, safe=":/?#@!$&'*+,;=%~-._")  # ( ) < > space and the like are percent-encoded
    return f"[{markdown}]({safe})"


_FONT = re.compile(r'<font color="[a-z]+">(.*?)</font>', re.S)
_MENTION = re.compile(r"<@([^<>\s]+)>")
_LINK = re.compile(r"\[([^\[\]\n]*)\]\(([^()\s]*)\)")
# Not the stars of a mask (138****5678, 330102********1234, a***@…): a run of exactly two.
_BOLD = re.compile(r"(?<!\*)\*\*(?!\*)(.+?)(?<!\*)\*\*(?!\*)", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_QUOTE = re.compile(r"^> ?", re.M)
_HEADING_MARK = re.compile(r"^#{1,6} +", re.M)


def plain(markdown: str) -> str:
    """A markdown message as plain text: markers dropped, links as text（url）, code as 「code」.

    Escaped text holds no markers (only their full-width twins), so only our own markup is touched."""
    text = _FONT.sub(r"\1", markdown)
    text = _MENTION.sub(r"@\1", text)
    text = _LINK.sub(lambda m: f"{m.group(1)}（{m.group(2)}）" if m.group(2) else m.group(1), text)
    text = _BOLD.sub(r"\1", text)
    text = _CODE.sub(r"「\1」", text)
    text = _QUOTE.sub("", text)
    return _HEADING_MARK.sub("", text)
