"""What the ingest engine hands a batch handler: stored inbox rows, their events, their passive-reply slots.

The engine (bot.ingest.inbox) holds WeChat's request open; handlers decide what the rows mean. This module is the
contract between the two, so that handlers never import the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from handlers.events import InboundEvent
from models.entities import InboundMessage


class AlreadyHandled(Exception):
    """Another worker finished this inbox row first; this attempt rolls back."""


class PassiveSlot:
    """Whether the HTTP request is still waiting to carry the reply (claimed) or has given up."""

    def __init__(self) -> None:
        self.state = "waiting"
        self.expired = False  # the budget is spent: a released claim cannot be made again
        self.on_given_up: Callable[[], None] | None = None  # answers the request without the reply

    def claim(self) -> bool:
        if self.state == "waiting":
            self.state = "claimed"
        return self.state == "claimed"

    def release(self) -> None:
        """A claim made in a transaction that rolled back: the request may carry the reply again,
        unless its budget ran out meanwhile (then it is answered now and the reply goes through the
        outbox)."""
        if self.state == "claimed":
            self.state = "abandoned" if self.expired else "waiting"
            if self.state == "abandoned" and self.on_given_up is not None:
                self.on_given_up()

    def abandon(self) -> bool:
        if self.state == "waiting":
            self.state = "abandoned"
        return self.state == "abandoned"

    def expire(self) -> bool:
        """The budget is spent: give up unless the reply is already claimed (only its commit is left)."""
        self.expired = True
        return self.abandon()


@dataclass(slots=True)
class StoredMessage:
    """An inbox row as the handlers need it (a plain record: building ORM objects per callback costs)."""

    id: int
    dedupe_key: str
    sender: str
    payload: dict[str, Any]
    attempts: int = 0

    @classmethod
    def of(cls, row: InboundMessage) -> StoredMessage:
        return cls(row.id, row.dedupe_key, row.sender, row.payload, row.attempts)


@dataclass
class BatchItem:
    """A stored inbox row on its way to a batch handler."""

    row: StoredMessage
    event: InboundEvent
    slot: PassiveSlot | None


# Handles what it can of a batch in one transaction: row id -> passive reply text (None: no passive
# reply). Rows it leaves out go through the router one by one.
BatchHandler = Callable[[list[BatchItem]], Awaitable[dict[int, str | None]]]
