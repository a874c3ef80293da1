"""The API's one error shape, `{"error": {"code", "message", "field"?}}`, for everything that goes wrong.

`message` is Chinese, for the citizen; `code` is for the front end's logic; `field` names the request
field a 422 is about. The middleware turns our exceptions, aiohttp's HTTP exceptions (404 route, 405,
413) and WeChat or Redis being unavailable (503) into that shape; anything else is logged with its
traceback and answered 500 without one (nothing a client sends should get there: a test sends
everything the OpenAPI file allows and more, and sees none).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import redis.asyncio as aioredis
from aiohttp import web

from bot.outbound.wechat_api import WeChatUnavailable
from handlers.miniprogram.errors import Refused, Why
from handlers.texts import miniprogram as texts

log = logging.getLogger(__name__)

STATUS_OF = {Why.NOT_FOUND: 404, Why.BAD_CHECK_DIGIT: 404, Why.CONFLICT: 409, Why.INVALID: 422}
JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.field, self.headers)


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return web.json_response({"error": error}, status=status, headers={**JSON_HEADERS, **(headers or {})})


def from_refusal(refused: Refused) -> ApiError:
    return ApiError(STATUS_OF[refused.why], refused.code, refused.message, refused.field)


def _from_http(exc: web.HTTPException) -> web.Response:
    if exc.status == 404:
        return error_response(404, "not_found", texts.ROUTE_NOT_FOUND)
    if exc.status == 405:
        allow = exc.headers.get("Allow", "")
        return error_response(405, "method_not_allowed", texts.METHOD_NOT_ALLOWED, headers={"Allow": allow})
    if exc.status == 413:
        return error_response(413, "body_too_large", texts.BODY_TOO_LARGE)
    if exc.status < 500:
        return error_response(exc.status, "bad_request", texts.MALFORMED_JSON)
    return error_response(503, "unavailable", texts.SERVER_ERROR)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except Refused as refused:
        return from_refusal(refused).response()
    except web.HTTPException as exc:
        return _from_http(exc)
    except WeChatUnavailable as exc:
        log.warning("api %s %s: WeChat unavailable: %s", request.method, request.path, exc)
        return error_response(503, "wechat_unavailable", texts.WECHAT_UNAVAILABLE, headers={"Retry-After": "5"})
    except (aioredis.RedisError, ConnectionError, TimeoutError) as exc:
        log.warning("api %s %s: %s", request.method, request.path, type(exc).__name__)
        return error_response(503, "unavailable", texts.SERVER_ERROR, headers={"Retry-After": "5"})
    except Exception:
        log.exception("api %s %s failed", request.method, request.path)
        return error_response(500, "server_error", texts.SERVER_ERROR)
