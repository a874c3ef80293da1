"""Chat command lines: a verb (Chinese, or its English alias) and its arguments.

A leading @mention and extra (also full-width) spaces are ignored: "@码上商  派 MS2611230042 张三".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from handlers.events import ChatEvent, CitizenEvent

_MENTION = re.compile(r"^(?:@\S+\s+)+")


@dataclass(frozen=True)
class CommandLine:
    verb: str  # the canonical Chinese verb
    args: list[str]
    rest: str  # everything after the verb, spaces kept (free text)

    def rest_after(self, count: int) -> str:
        """The free text after the first `count` arguments."""
        text = self.rest
        for _ in range(count):
            parts = text.split(None, 1)
            text = parts[1] if len(parts) > 1 else ""
        return text.strip()


def normalize(text: str) -> str:
    text = text.replace("\u3000", " ").replace("\xa0", " ").strip()
    return _MENTION.sub("", text).strip()


def parse(text: str, verbs: dict[str, str]) -> CommandLine | None:
    """`verbs` maps every accepted word (Chinese and alias, lower-case) to the canonical verb."""
    line = normalize(text)
    if not line:
        return None
    head, _, rest = line.partition(" ")
    verb = verbs.get(head.lower())
    if verb is None:
        return None
    rest = rest.strip()
    return CommandLine(verb=verb, args=rest.split(), rest=rest)


def event_text(event: ChatEvent | CitizenEvent) -> str | None:
    if isinstance(event, CitizenEvent):
        return event.text if event.kind == "message" and event.msg_type == "text" else None
    return event.text


def command_filter(verbs: dict[str, str]) -> Any:
    """A router filter: matches a known command and hands the handler `command`."""

    def matches(event: ChatEvent | CitizenEvent) -> dict[str, Any] | None:
        text = event_text(event)
        if text is None:
            return None
        command = parse(text, verbs)
        return {"command": command} if command else None

    return matches
