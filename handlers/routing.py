"""A small aiogram-style router: handlers registered with filters, data injected by parameter name.

A filter is a callable taking any of the dispatch data by name and returning False/None (no match),
True (match) or a dict (match, and these values are added to the data for the handler).

Which names a filter or handler takes is read from its signature once, when it is registered; a
dispatch only looks those names up. A name can also be provided lazily (`Router.provide`): computed
the first time a filter or handler of that router (or of a router below it) asks for it, at most once
per dispatched event however many ask, like an aiogram middleware that only runs when needed.

Filters that are plain functions must not do I/O (they cannot await): `static_route` relies on it to
tell, without touching the database, which handler an event would reach (the batch intake asks it).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

Filter = Callable[..., Any]
HandlerFunc = Callable[..., Awaitable[Any]]
_NO_PROVIDERS: Mapping[str, _Injectable] = {}


class _Unhandled:
    def __repr__(self) -> str:
        return "UNHANDLED"


UNHANDLED: Any = _Unhandled()


@dataclass(frozen=True)
class _Injectable:
    """A callable and the data names it takes, read from its signature once."""

    func: Callable[..., Any]
    names: tuple[tuple[str, bool], ...]  # (name, required) per parameter passed by name
    takes_all: bool  # has **kwargs: gets all the data
    is_async: bool  # a coroutine function: may do I/O

    @classmethod
    def of(cls, func: Callable[..., Any]) -> _Injectable:
        if not callable(func):
            raise TypeError(f"{func!r} is not callable")
        names: list[tuple[str, bool]] = []
        takes_all = False
        for name, param in inspect.signature(func).parameters.items():
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                takes_all = True
            elif param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise TypeError(f"{_name(func)}: positional-only parameter {name!r} cannot be given by name")
            elif param.kind is not inspect.Parameter.VAR_POSITIONAL:
                names.append((name, param.default is inspect.Parameter.empty))
        return cls(func, tuple(names), takes_all, inspect.iscoroutinefunction(func))

    @property
    def name(self) -> str:
        return _name(self.func)


def _name(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__qualname__", func))


class _Scope:
    """One dispatched event: its lazily provided values, computed at most once."""

    __slots__ = ("resolved", "resolving")

    def __init__(self) -> None:
        self.resolved: dict[Callable[..., Any], Any] = {}  # provider function -> its value
        self.resolving: set[Callable[..., Any]] = set()

    async def value(self, provider: _Injectable, data: dict[str, Any], providers: Mapping[str, _Injectable]) -> Any:
        func = provider.func
        if func in self.resolved:
            return self.resolved[func]
        if func in self.resolving:
            raise TypeError(f"{provider.name} needs itself (a cycle of provided data)")
        self.resolving.add(func)
        try:
            value = await self.call(provider, data, providers)
            if inspect.isawaitable(value):
                value = await value
        finally:
            self.resolving.discard(func)
        self.resolved[func] = value
        return value

    async def call(self, target: _Injectable, data: dict[str, Any], providers: Mapping[str, _Injectable]) -> Any:
        """`target` called with what it takes: the data by name, else the value of its provider."""
        if target.takes_all:
            kwargs = dict(data)
            for name, provider in providers.items():
                if name not in kwargs:
                    kwargs[name] = await self.value(provider, data, providers)
            return target.func(**kwargs)
        kwargs = {}
        for name, required in target.names:
            if name in data:
                kwargs[name] = data[name]
            elif name in providers:
                kwargs[name] = await self.value(providers[name], data, providers)
            elif required:
                raise TypeError(f"{target.name} needs {name!r}, which nobody provides")
        return target.func(**kwargs)

    async def run_filter(
        self, flt: _Injectable, data: dict[str, Any], providers: Mapping[str, _Injectable]
    ) -> dict[str, Any] | None:
        result = await self.call(flt, data, providers)
        if inspect.isawaitable(result):
            result = await result
        if result is None or result is False:
            return None
        if result is True:
            return {}
        if isinstance(result, dict):
            return result
        raise TypeError(f"filter {flt.func!r} returned {result!r}; expected bool, None or dict")


_UNDECIDED: Any = object()  # static_route: only I/O could tell


def _static_filter(flt: _Injectable, data: dict[str, Any]) -> dict[str, Any] | None:
    kwargs = data if flt.takes_all else {name: data[name] for name, _ in flt.names if name in data}
    result = flt.func(**kwargs)
    if inspect.isawaitable(result):  # a plain function handing back an awaitable: it meant I/O
        if inspect.iscoroutine(result):
            result.close()
        raise TypeError(f"filter {flt.name} is a plain function but returned an awaitable")
    if result is None or result is False:
        return None
    return {} if result is True else dict(result)


@dataclass(frozen=True)
class _Registration:
    callback: _Injectable
    filters: tuple[_Injectable, ...]


class Router:
    """Handlers for one kind of event: `event_type` limits the router (and its children) to it."""

    def __init__(self, name: str, event_type: type | tuple[type, ...] | None = None) -> None:
        self.name = name
        self.event_type = event_type
        self._handlers: list[_Registration] = []
        self._children: list[Router] = []
        self._providers: dict[str, _Injectable] = {}

    def handler(self, *filters: Filter) -> Callable[[HandlerFunc], HandlerFunc]:
        prepared = tuple(_Injectable.of(flt) for flt in filters)

        def register(callback: HandlerFunc) -> HandlerFunc:
            self._handlers.append(_Registration(_Injectable.of(callback), prepared))
            return callback

        return register

    def provide(self, name: str, provider: Callable[..., Any]) -> None:
        """`name` for this router's filters and handlers (and its children's), unless the data has it:
        `provider(...)` (its parameters injected too), awaited if need be, computed on first use and
        then kept for the rest of the event. Routers providing a name with the same function share
        the one value."""
        self._providers[name] = _Injectable.of(provider)

    def include_router(self, router: Router) -> Router:
        self._children.append(router)
        return router

    def static_route(self, data: dict[str, Any], known: Mapping[str, Any] | None = None) -> HandlerFunc | None:
        """The handler `dispatch(**data)` would run, found without I/O; None when no handler matches or
        when the answer needs I/O: a coroutine filter, or one taking a provided name that `known` (values
        the caller already has, e.g. `person`) does not give, is reached before a handler matches.
        Filters are run as dispatch runs them, in order, so a plain filter that says no first keeps an
        I/O filter after it from mattering."""
        found = self._static(data, dict(known or {}), _NO_PROVIDERS)
        return None if found is UNHANDLED or found is _UNDECIDED else found

    def _static(self, data: dict[str, Any], known: dict[str, Any], inherited: Mapping[str, _Injectable]) -> Any:
        if self.event_type is not None and not isinstance(data.get("event"), self.event_type):
            return UNHANDLED
        providers = {**inherited, **self._providers} if self._providers else inherited
        for registration in self._handlers:
            handler_data = {**known, **data}
            for flt in registration.filters:
                needs = {name for name, _ in flt.names} if not flt.takes_all else set(providers)
                if flt.is_async or any(name in providers and name not in handler_data for name in needs):
                    return _UNDECIDED
                extra = _static_filter(flt, handler_data)
                if extra is None:
                    break
                handler_data = {**handler_data, **extra}
            else:
                return registration.callback.func
        for child in self._children:
            found = child._static(data, known, providers)
            if found is not UNHANDLED:
                return found
        return UNHANDLED

    async def dispatch(self, **data: Any) -> Any:
        """Run the first handler whose filters all match; UNHANDLED when none does."""
        return await self._dispatch(data, _Scope(), _NO_PROVIDERS)

    async def _dispatch(self, data: dict[str, Any], scope: _Scope, inherited: Mapping[str, _Injectable]) -> Any:
        if self.event_type is not None and not isinstance(data.get("event"), self.event_type):
            return UNHANDLED
        providers = {**inherited, **self._providers} if self._providers else inherited
        for registration in self._handlers:
            handler_data = data
            for flt in registration.filters:
                extra = await scope.run_filter(flt, handler_data, providers)
                if extra is None:
                    break
                if extra:
                    handler_data = {**handler_data, **extra}
            else:
                return await (await scope.call(registration.callback, handler_data, providers))
        for child in self._children:
            result = await child._dispatch(data, scope, providers)
            if result is not UNHANDLED:
                return result
        return UNHANDLED
