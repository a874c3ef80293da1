"""The router itself: parameters read once at registration, lazily provided data computed once per event."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from handlers import routing
from handlers.routing import UNHANDLED, Router


async def test_signatures_are_read_at_registration_and_never_while_dispatching(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = Router("test")

    def says(event: str, prefix: str = "") -> dict[str, Any] | None:
        return {"said": prefix + event} if event.startswith("say ") else None

    @router.handler(says)
    async def echo(said: str, unused: int = 0) -> str:
        return said

    @router.handler()
    async def anything(event: str, **data: Any) -> str:
        return f"{event} with {sorted(data)}"

    def no_inspecting(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("inspect.signature while dispatching")

    monkeypatch.setattr(inspect, "signature", no_inspecting)
    assert await router.dispatch(event="say hi", other=1) == "say hi"
    assert await router.dispatch(event="say hi", prefix="> ") == "> say hi"
    assert await router.dispatch(event="hello", other=1) == "hello with ['other']"


async def test_a_parameter_nobody_provides_is_a_clear_error() -> None:
    router = Router("test")

    @router.handler()
    async def needs_redis(event: str, redis: Any) -> None:  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(TypeError, match=r"needs_redis needs 'redis', which nobody provides"):
        await router.dispatch(event="x")

    def only_positional(event: str, /) -> bool:  # pragma: no cover - refused at registration
        return True

    with pytest.raises(TypeError, match=r"only_positional: positional-only parameter 'event'"):
        router.handler(only_positional)
    with pytest.raises(TypeError, match="not callable"):
        router.handler("event")  # type: ignore[arg-type]


async def test_a_filter_returning_anything_else_is_an_error() -> None:
    router = Router("test")

    @router.handler(lambda event: "yes")
    async def never(event: str) -> None:  # pragma: no cover - the filter fails
        raise AssertionError

    with pytest.raises(TypeError, match="expected bool, None or dict"):
        await router.dispatch(event="x")


async def test_provided_data_is_computed_on_first_use_once_per_event_across_routers() -> None:
    calls: list[str] = []

    async def who(event: str) -> str:
        calls.append(event)
        return event.split()[0]

    root = Router("root")
    first, second, third = Router("first"), Router("second"), Router("third")
    for router in (first, second):
        router.provide("person", who)
    root.include_router(first)
    root.include_router(second)
    root.include_router(third)

    def is_question(event: str) -> bool:
        return event.endswith("?")

    @first.handler(is_question, lambda person: person == "staff")
    async def staff_question(person: str) -> str:
        return f"{person} asks"

    @first.handler(lambda person: person == "admin")
    async def admin(person: str) -> str:
        return "admin"

    @second.handler(lambda person: person == "member")
    async def member(person: str) -> str:
        return "member"

    @third.handler(lambda event: event.startswith("citizen"))
    async def citizen(event: str) -> str:
        return "citizen"

    assert await root.dispatch(event="staff ?") == "staff asks"
    assert calls == ["staff ?"]
    assert await root.dispatch(event="member writes") == "member"
    assert calls == ["staff ?", "member writes"]  # two routers, three filters asked: computed once
    assert await root.dispatch(event="citizen writes") == "citizen"
    assert len(calls) == 3  # asked by both routers' filters before the third's handler: once
    # Data given to the dispatch wins over a provider: nothing is computed.
    assert await root.dispatch(event="anyone", person="admin") == "admin"
    assert len(calls) == 3
    # Only the routers that provide it (and those below them) see it.
    alone = Router("alone")

    @alone.handler()
    async def needs_person(person: str) -> str:  # pragma: no cover - fails before
        raise AssertionError

    root.include_router(alone)
    with pytest.raises(TypeError, match="needs_person needs 'person', which nobody provides"):
        await root.dispatch(event="nobody writes")


async def test_a_provider_is_injected_too_and_a_cycle_is_an_error() -> None:
    router = Router("test")
    router.provide("settings", lambda: {"prefix": "MS"})
    router.provide("code", lambda event, settings: settings["prefix"] + event)
    router.provide("loop", lambda loop: loop)

    @router.handler(lambda code: code == "MS1")
    async def found(code: str) -> str:
        return code

    @router.handler(lambda event: event == "loop")
    async def looping(loop: Any) -> Any:  # pragma: no cover - fails before
        raise AssertionError

    @router.handler()
    async def everything(**data: Any) -> list[str]:
        return sorted(data)

    assert await router.dispatch(event="1") == "MS1"
    with pytest.raises(TypeError, match="needs itself"):
        await router.dispatch(event="loop")
    # **data gets all of it, the provided data too (computed for it).
    router.provide("loop", lambda: "no more")
    assert await router.dispatch(event="2") == ["code", "event", "loop", "settings"]
    assert await Router("other", event_type=int).dispatch(event="x") is UNHANDLED
    assert routing.UNHANDLED is UNHANDLED


def test_static_route_finds_the_handler_without_io_or_says_it_cannot() -> None:
    root = Router("root")
    child = Router("child", event_type=str)
    root.include_router(child)
    looked_up: list[str] = []

    async def in_database(event: str) -> bool:  # a coroutine filter: I/O
        looked_up.append(event)
        return True

    def survey_words(event: str) -> bool:
        return event in {"1", "2", "3"}

    async def who(event: str) -> str:
        looked_up.append(event)
        return "nobody"

    root.provide("person", who)

    @root.handler(lambda person: person == "staff")
    async def staff() -> str:
        return "staff"

    @child.handler(survey_words, in_database)
    async def survey() -> str:
        return "survey"

    @child.handler(lambda event: event.startswith("MS"))
    async def status() -> str:
        return "status"

    @child.handler()
    async def new_case() -> str:
        return "new case"

    known = {"person": "nobody"}
    assert root.static_route({"event": "路灯坏了"}, known) is new_case
    assert root.static_route({"event": "MS2612010001"}, known) is status
    # A survey answer needs the database to tell (is a case in its return visit?): undecided.
    assert root.static_route({"event": "1"}, known) is None
    # Without the person given, the staff filter would need I/O first: undecided for every event.
    assert root.static_route({"event": "路灯坏了"}) is None
    assert root.static_route({"event": 42}, known) is None  # no handler of the child for it
    assert looked_up == []  # nothing was looked up to tell


async def test_the_batch_intakes_new_case_test_agrees_with_the_router(stack: Any) -> None:
    """Derived from the router: what reaches handle_case_message for a citizen with nothing open."""
    from datetime import UTC, datetime

    from bot.app import REDIS, SETTINGS, build_router
    from handlers.events import CitizenEvent
    from handlers.routers import citizen

    app = stack.app
    test = citizen.new_case_test(build_router(), app[SETTINGS], app[REDIS])

    def message(text: str, msg_type: str = "text") -> CitizenEvent:
        at = datetime.now(UTC)
        return CitizenEvent(channel="oa", sender="o-x", kind="message", created_at=at, msg_type=msg_type, text=text)

    for text in ("小区路灯坏了三天", "你好，路灯坏了", "3号楼门口也有积水"):
        assert test(message(text)), text
    assert test(message("", "image"))
    for text in ("你好", "帮助", "我的", "查询", "1", "不满意 还是没修好", "MS26120100010"):
        assert not test(message(text)), text
    scan = CitizenEvent(channel="oa", sender="o-x", kind="scan", created_at=datetime.now(UTC), contact_point_key="k")
    assert not test(scan)
