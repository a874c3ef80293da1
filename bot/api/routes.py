"""The `/api/v1` routes of the mini-program (what each does is handlers/miniprogram; the contract is
bot/api/openapi.py, which a test holds to every route served here)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.api.auth import authenticated, open_session
from bot.api.body import json_object
from bot.api.context import ApiResources, resources
from bot.api.errors import JSON_HEADERS, ApiError
from bot.api.openapi import spec
from bot.api.uploads import receive
from bot.outbound.wechat_api import WeChatAPIError, WeChatUnavailable
from handlers.admin.roster import KEY_RE
from handlers.miniprogram import cases, idempotency, identity, subscriptions
from handlers.miniprogram import uploads as upload_store
from handlers.miniprogram.errors import invalid
from handlers.texts import miniprogram as texts
from handlers.topics import opinions
from models.entities import Citizen, ContactPoint

log = logging.getLogger(__name__)

LOGIN_ERRORS = {
    40029: (401, "login_code_invalid", texts.LOGIN_CODE_INVALID),
    40163: (401, "login_code_invalid", texts.LOGIN_CODE_INVALID),  # a code used already
    45011: (429, "login_rate_limited", texts.LOGIN_RATE_LIMITED),
    40226: (403, "login_blocked", texts.LOGIN_BLOCKED),
}
CODE_MAX = 128


def ok(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=JSON_HEADERS)


def _short_string(data: dict[str, Any], field: str, label: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise invalid(field, texts.field_required(label))
    if len(value) > CODE_MAX:
        raise invalid(field, texts.field_invalid(label))
    return value


# ---- no token needed ---------------------------------------------------------------------------------


async def create_session(request: web.Request) -> web.Response:
    api = resources(request)
    data = await json_object(request, {"code"})
    code = _short_string(data, "code", "登录凭证")
    try:
        answer = await api.mini.code_to_session(code)
    except WeChatAPIError as exc:
        known = LOGIN_ERRORS.get(exc.errcode)
        if known is None:
            log.warning("jscode2session refused: errcode %s", exc.errcode)  # an administrator's to fix
            raise ApiError(503, "wechat_unavailable", texts.WECHAT_UNAVAILABLE, headers={"Retry-After": "5"}) from None
        status, error_code, message = known
        raise ApiError(status, error_code, message, headers={"Retry-After": "60"} if status == 429 else None) from None
    openid = answer.get("openid")
    if not isinstance(openid, str) or not openid:
        raise WeChatUnavailable("/sns/jscode2session: no openid in the answer")
    unionid = answer.get("unionid")  # the session_key in `answer` is dropped here, never stored or logged
    citizen = await identity.sign_in(openid, unionid if isinstance(unionid, str) and unionid else None)
    token, ttl = await open_session(api, citizen)
    return ok({"token": token, "expires_in": ttl}, status=201)


async def contact_point(request: web.Request) -> web.Response:
    api = resources(request)
    key = request.match_info["key"]
    point = await ContactPoint.get_or_none(key=key) if KEY_RE.fullmatch(key) else None  # no NUL to PostgreSQL
    if point is None:
        raise ApiError(404, "not_found", texts.CONTACT_POINT_NOT_FOUND)
    return ok(
        {
            "key": point.key,
            "name": point.name,
            "kind": str(point.kind),
            "district": point.district,
            "prompt": texts.point_prompt(point.name, point.is_active, api.settings),
            "active": point.is_active,
        }
    )


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(spec(), headers={"Cache-Control": "public, max-age=300"})


# ---- the citizen -------------------------------------------------------------------------------------


@authenticated
async def upload(request: web.Request, citizen: Citizen) -> web.Response:
    return await receive(request, citizen)


async def _phone_number(api: ApiResources, data: dict[str, Any]) -> str | None:
    if data.get("phone_code") is None:
        return None
    code = _short_string(data, "phone_code", "手机号授权")
    try:
        return await api.mini.get_phone_number(code)
    except WeChatAPIError as exc:
        if exc.errcode in (40029, 40163):
            raise invalid("phone_code", texts.PHONE_CODE_INVALID, code="phone_code_invalid") from None
        log.warning("getuserphonenumber refused: errcode %s", exc.errcode)
        raise ApiError(503, "wechat_unavailable", texts.WECHAT_UNAVAILABLE, headers={"Retry-After": "5"}) from None


def _key(request: web.Request) -> str | None:
    return idempotency.check_key(request.headers.get(idempotency.HEADER))


@authenticated
async def file_case(request: web.Request, citizen: Citizen) -> web.Response:
    api = resources(request)
    data = await json_object(request, {"contact_point", "text", "upload_ids", "location", "phone_code"})
    key = _key(request)
    route = "POST /cases"
    if key is not None and (stored := await idempotency.stored(citizen, route, key, data)) is not None:
        return ok(stored[1], status=stored[0])  # before anything else: a phone code is good for one exchange
    point = await cases.find_point(data.get("contact_point"))
    text = cases.clean_text(data.get("text"))
    location = cases.check_location(data.get("location"))
    await upload_store.unused(citizen, data.get("upload_ids"))
    phone = await _phone_number(api, data)

    async def action() -> idempotency.Answer:
        found = await upload_store.unused(citizen, data.get("upload_ids"))
        request_ = cases.NewCaseRequest(point, text, found, location, phone)
        return 201, await cases.file_case(citizen, request_, api.settings)

    status, body = await idempotency.once(citizen, route, key, data, action)
    return ok(body, status=status)


@authenticated
async def list_cases(request: web.Request, citizen: Citizen) -> web.Response:
    limit = cases.check_limit(request.query.get("limit"))
    return ok(await cases.list_cases(citizen, request.query.get("cursor"), limit))


@authenticated
async def show_case(request: web.Request, citizen: Citizen) -> web.Response:
    api = resources(request)
    return ok(await cases.show_case(citizen, request.match_info["code"], api.settings, api.committee_name))


@authenticated
async def follow_up(request: web.Request, citizen: Citizen) -> web.Response:
    api = resources(request)
    code = request.match_info["code"]
    await cases.find_own_case(citizen, code, api.settings)  # 404 before looking at the body
    data = await json_object(request, {"text", "upload_ids"})
    key = _key(request)
    text = cases.clean_text(data.get("text"))

    async def action() -> idempotency.Answer:
        case = await cases.find_own_case(citizen, code, api.settings)
        found = await upload_store.unused(citizen, data.get("upload_ids"))
        return 201, await cases.follow_up(citizen, case, text, found)

    status, body = await idempotency.once(citizen, f"POST /cases/{code}/messages", key, data, action)
    return ok(body, status=status)


@authenticated
async def rate(request: web.Request, citizen: Citizen) -> web.Response:
    api = resources(request)
    code = request.match_info["code"]
    await cases.find_own_case(citizen, code, api.settings)
    data = await json_object(request, {"score", "comment"})
    score = cases.check_score(data.get("score"))
    comment = cases.clean_text(data.get("comment"), "comment", limit=cases.COMMENT_MAX_CHARS, required=False)

    async def action() -> idempotency.Answer:
        case = await cases.find_own_case(citizen, code, api.settings)
        return 200, await cases.rate(citizen, case, score, comment, api.redis, api.settings)

    status, body = await idempotency.once(citizen, f"POST /cases/{code}/rating", None, data, action)
    return ok(body, status=status)


@authenticated
async def subscribe(request: web.Request, citizen: Citizen) -> web.Response:
    data = await json_object(request, {"accepted"})
    accepted = subscriptions.check_templates(data.get("accepted"))
    return ok({"consents": await subscriptions.record(citizen, accepted)})


@authenticated
async def me(request: web.Request, citizen: Citizen) -> web.Response:
    return ok(await cases.about(citizen))


@authenticated
async def forget_phone(request: web.Request, citizen: Citizen) -> web.Response:
    await cases.forget_phone(citizen)
    return ok({"phone": None, "message": texts.PHONE_FORGOTTEN})


# ---- 码上商量: consultation topics ------------------------------------------------------------------


@authenticated
async def show_topic(request: web.Request, citizen: Citizen) -> web.Response:
    return ok(await opinions.topic_view(await opinions.find_topic(request.match_info["key"])))


@authenticated
async def list_opinions(request: web.Request, citizen: Citizen) -> web.Response:
    topic = await opinions.find_topic(request.match_info["key"])
    order = opinions.check_order(request.query.get("order"))
    limit = opinions.check_limit(request.query.get("limit"))
    return ok(await opinions.list_opinions(topic, order, request.query.get("cursor"), limit))


async def _text_verdict(api: ApiResources, citizen: Citizen, text: str) -> opinions.Verdict:
    """WeChat's msg_sec_check (version 2) with the author's openid."""
    try:
        answer = await api.mini.msg_sec_check(citizen.openid, text)
    except WeChatAPIError as exc:
        log.warning("msg_sec_check refused: errcode %s", exc.errcode)
        raise ApiError(503, "wechat_unavailable", texts.WECHAT_UNAVAILABLE, headers={"Retry-After": "5"}) from None
    return opinions.Verdict(answer["suggest"], answer["label"], answer["trace_id"])


@authenticated
async def post_opinion(request: web.Request, citizen: Citizen) -> web.Response:
    api = resources(request)
    topic = await opinions.find_topic(request.match_info["key"])
    data = await json_object(request, {"text", "upload_ids", "contact_point"})
    key = _key(request)
    route = f"POST /topics/{topic.key}/opinions"
    if key is not None and (stored := await idempotency.stored(citizen, route, key, data)) is not None:
        return ok(stored[1], status=stored[0])
    opinions.ensure_open(topic)
    text = cases.clean_text(data.get("text"))
    opinions.images_only(await upload_store.unused(citizen, data.get("upload_ids")))
    point = (await cases.find_point(data["contact_point"])).key if data.get("contact_point") is not None else None
    verdict = await _text_verdict(api, citizen, text)

    async def action() -> idempotency.Answer:
        found = opinions.images_only(await upload_store.unused(citizen, data.get("upload_ids")))
        return 201, await opinions.post(citizen, topic, text, found, verdict, point)

    status, body = await idempotency.once(citizen, route, key, data, action)
    return ok(body, status=status)


@authenticated
async def support_opinion(request: web.Request, citizen: Citizen) -> web.Response:
    opinion_id = request.match_info["id"]

    async def action() -> idempotency.Answer:
        return 200, await opinions.support(citizen, opinion_id)

    status, body = await idempotency.once(citizen, f"POST /opinions/{opinion_id}/support", None, {}, action)
    return ok(body, status=status)


def add_routes(api: web.Application) -> None:
    api.router.add_post("/session", create_session)
    api.router.add_get("/contact-points/{key}", contact_point)
    api.router.add_get("/openapi.json", openapi_document)
    api.router.add_post("/uploads", upload)
    api.router.add_post("/cases", file_case)
    api.router.add_get("/cases", list_cases)
    api.router.add_get("/cases/{code}", show_case)
    api.router.add_post("/cases/{code}/messages", follow_up)
    api.router.add_post("/cases/{code}/rating", rate)
    api.router.add_post("/subscriptions", subscribe)
    api.router.add_get("/me", me)
    api.router.add_delete("/me/phone", forget_phone)
    api.router.add_get("/topics/{key}", show_topic)
    api.router.add_get("/topics/{key}/opinions", list_opinions)
    api.router.add_post("/topics/{key}/opinions", post_opinion)
    api.router.add_post("/opinions/{id}/support", support_opinion)
