"""The HTTP side of the citizen's case page (what it does is `handlers/cases/case_page.py`).

    GET  /c/<token>               the page (or a notice: link expired, used, unknown)
    POST /c/<token>               the return-visit form: score 1–3, comment, nonce
    GET  /c/assets/<name>         the stylesheet

Server-rendered with jinja2 (autoescape on; templates and assets are package data), no JavaScript,
a Content-Security-Policy that allows our own stylesheet and nothing else, and no Referer: the token
in the URL must not leak to anyone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from multidict import MultiDictProxy

from bot.web import asset, asset_version, templates
from handlers.cases import case_page
from handlers.cases.case_page import BadAnswer, LinkState, OpenedLink, Outcome
from handlers.settings import Settings
from handlers.texts import case_page as texts

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}
ASSETS = {"case-page.css": "text/css"}

@functools.cache
def stylesheet_href() -> str:
    """Relative to /c/<token>, so it also works behind a proxy that serves us under a path prefix."""
    version = asset_version("case-page.css")
    return f"assets/case-page.css?v={version}"


def render(template: str, status: int = 200, **context: Any) -> web.Response:
    body = templates.get_template(template).render(stylesheet=stylesheet_href(), **context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


def notice(status: int, title: str, text: str, code: str | None = None, *, thanks: bool = False) -> web.Response:
    return render("notice.html", status, title=title, text=text, code=code, thanks=thanks)


def link_gone(opened: OpenedLink) -> web.Response:
    """Expired or used: how to ask again, with the code. Unknown: the same page without one (410 vs 404
    says no more than the code does)."""
    code = opened.code
    return notice(410 if code else 404, texts.LINK_GONE_TITLE, texts.link_gone(code))


def _single(form: MultiDictProxy[Any], name: str) -> str:
    """The one text value of a form field ("" when absent); repeated or non-text values are refused."""
    values = form.getall(name, [])
    if not values:
        return ""
    if len(values) > 1 or not isinstance(values[0], str):
        raise BadAnswer(texts.BAD_SCORE if name == "score" else texts.STALE)
    return values[0]


@dataclass(frozen=True)
class CasePages:
    redis: web.AppKey[aioredis.Redis]
    settings: web.AppKey[Settings]

    async def show(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        opened = await case_page.open_link(token)
        if opened.state != LinkState.OPEN or opened.case is None or opened.link is None:
            return link_gone(opened)
        view = await case_page.case_view(opened.case)
        return render(
            "case.html",
            view=view,
            nonce=case_page.form_nonce(token, opened.case),
            comment_max=case_page.COMMENT_MAX_CHARS,
            expires=texts.page_time(opened.link.expires_at),
        )

    async def answer(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            form = await request.post()
            score, comment = case_page.parse_answer(_single(form, "score"), _single(form, "comment"))
            nonce = _single(form, "nonce")
        except BadAnswer as bad:
            return notice(400, texts.BAD_ANSWER_TITLE, bad.message_zh)
        except ValueError:  # a body aiohttp cannot read as a form
            return notice(400, texts.BAD_ANSWER_TITLE, texts.BAD_SCORE)
        app = request.app
        result = await case_page.answer_visit(token, nonce, score, comment, app[self.redis], app[self.settings])
        if result.outcome == Outcome.RECORDED:
            return notice(200, texts.THANKS_TITLE, result.text, thanks=True)
        if result.outcome == Outcome.ALREADY_ANSWERED:
            return notice(409, texts.ALREADY_ANSWERED_TITLE, texts.ALREADY_ANSWERED, result.code)
        if result.outcome == Outcome.VISIT_OVER:
            return notice(409, texts.VISIT_OVER_TITLE, texts.visit_over(result.code or "", result.state_zh))
        if result.outcome == Outcome.STALE:
            return notice(403, texts.STALE_TITLE, texts.STALE, result.code)
        return notice(410 if result.code else 404, texts.LINK_GONE_TITLE, texts.link_gone(result.code))

    async def asset(self, request: web.Request) -> web.Response:
        return await serve_asset(request)


async def serve_asset(request: web.Request) -> web.Response:
    """The stylesheet, at `assets/<name>` beside any page that links it relatively (/c/, /media/)."""
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return web.Response(body=asset(name), content_type=ASSETS[name], charset="utf-8", headers=headers)


def add_routes(app: web.Application, *, redis: web.AppKey[aioredis.Redis], settings: web.AppKey[Settings]) -> None:
    pages = CasePages(redis, settings)
    app.router.add_get("/c/assets/{name}", pages.asset)
    app.router.add_get("/c/{token}", pages.show)
    app.router.add_post("/c/{token}", pages.answer)
