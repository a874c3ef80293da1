"""A small aiogram-style router: handlers registered with filters, data injected by parameter name.

A filter is a callable taking any of the dispatch data by name and returning False/None (no match),
True (match) or a dict (match, and these values are added to the data for the handler).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Filter = Callable[..., Any]
HandlerFunc = Callable[..., Awaitable[Any]]


class _Unhandled:
    def __repr__(self) -> str:
        return "UNHANDLED"


UNHANDLED: Any = _Unhandled()


def _call_with_injection(func: Callable[..., Any], data: dict[str, Any]) -> Any:
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return func(**data)
    kwargs = {}
    for name, param in params.items():
        if name in data:
            kwargs[name] = data[name]
        elif param.default is inspect.Parameter.empty:
            raise TypeError(f"{getattr(func, '__qualname__', func)} needs {name!r}, which nobody provides")
    return func(**kwargs)


async def _run_filter(flt: Filter, data: dict[str, Any]) -> dict[str, Any] | None:
    result = _call_with_injection(flt, data)
    if inspect.isawaitable(result):
        result = await result
    if result is None or result is False:
        return None
    if result is True:
        return {}
    if isinstance(result, dict):
        return result
    raise TypeError(f"filter {flt!r} returned {result!r}; expected bool, None or dict")


@dataclass
class _Registration:
    callback: HandlerFunc
    filters: tuple[Filter, ...]


class Router:
    """Handlers for one kind of event: `event_type` limits the router (and its children) to it."""

    def __init__(self, name: str, event_type: type | tuple[type, ...] | None = None) -> None:
        self.name = name
        self.event_type = event_type
        self._handlers: list[_Registration] = []
        self._children: list[Router] = []

    def handler(self, *filters: Filter) -> Callable[[HandlerFunc], HandlerFunc]:
        def register(callback: HandlerFunc) -> HandlerFunc:
            self._handlers.append(_Registration(callback, filters))
            return callback

        return register

    def include_router(self, router: Router) -> Router:
        self._children.append(router)
        return router

    async def dispatch(self, **data: Any) -> Any:
        """Run the first handler whose filters all match; UNHANDLED when none does."""
        if self.event_type is not None and not isinstance(data.get("event"), self.event_type):
            return UNHANDLED
        for registration in self._handlers:
            handler_data = dict(data)
            for flt in registration.filters:
                extra = await _run_filter(flt, handler_data)
                if extra is None:
                    break
                handler_data.update(extra)
            else:
                return await _call_with_injection(registration.callback, handler_data)
        for child in self._children:
            result = await child.dispatch(**data)
            if result is not UNHANDLED:
                return result
        return UNHANDLED
