"""Reading a request's JSON body: 415 when it is not JSON, 413 when too big, 400 when malformed,
422 naming the first field that is not one of the route's."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from aiohttp import web

from bot.api.errors import ApiError
from handlers.texts import miniprogram as texts


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's json takes them, JSON does not


async def json_object(request: web.Request, fields: Collection[str]) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", texts.UNSUPPORTED_MEDIA_TYPE)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", texts.BODY_TOO_LARGE) from None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "malformed_json", texts.MALFORMED_JSON) from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", texts.NOT_AN_OBJECT)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ApiError(422, "unknown_field", texts.UNKNOWN_FIELD, field=unknown[0][:100])
    return data
