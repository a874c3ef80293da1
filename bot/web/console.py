"""The HTTP side of the web console (`/console`): staff log in, see the live queue, open a case and act.

    GET  /console/login, POST /console/login     the login form (username = staff key, password)
    POST /console/logout
    GET  /console                                 队列: the queue with its filters (handlers/console/queue.py)
    GET  /console/queue/rows                      the queue's list alone (the page's script refreshes it)
    GET  /console/events                          server-sent events: the queue changed (Redis pub/sub)
    GET  /console/cases                           件: every case, the same filters
    GET  /console/cases/{code}                    one case (handlers/console/case.py)
    POST /console/cases/{code}/{action}           a form: the chat's own staff command, marked 控制台
    GET  /console/cases/{code}/media/{id}         an image, voice or video the citizen sent
    GET  /console/{map,deadlines,members,points}  the figures' pages (handlers/console/figures.py); members
                                                  and points also /{key}: one member's record, one point
    GET  /console/points/{key}/{code,poster}.png  a point's code (?scene=) or its poster, drawn on asking
    GET  /console/export/{name}[/{key}]           a figure page's tables: ?format=csv&table=… or xlsx
    GET  /console/assets/{name}                   stylesheet and script

Who may do what: every page needs a session (console_auth.py); a viewer reads everything, sees no action
form, and every action route answers 403. Every POST needs the CSRF token. The Content-Security-Policy
allows our own script and stylesheet and nothing inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis.asyncio as aioredis
from aiohttp import web

from bot.config import Config
from bot.web import asset, asset_version, templates
from bot.web.console_auth import COOKIE, LOCK_MINUTES, LOGIN_COOKIE, Session, Sessions, login_token, same_token
from handlers.admin import accounts
from handlers.admin.qr_codes import QrError, read_wxa_png
from handlers.cases import queue as triage_queue
from handlers.cases.actions import CommandError
from handlers.cases.media import content_type_for
from handlers.console import case as console_case
from handlers.console import figures as console_figures
from handlers.console import queue as console_queue
from handlers.reports.export import export as export_figure
from handlers.settings import Settings
from handlers.texts import console as texts
from models.entities import Case, CaseMessage
from models.qr import QrCode, QrKind
from models.tracking import find_code

log = logging.getLogger(__name__)

PREFIX = "/console"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
# The figures' pages (handlers/console/figures.py), by their nav key.
PAGES = ("map", "deadlines", "members", "points")
KEEPALIVE_S = 15.0  # a comment line on the event stream this often (proxies close silent streams)

@functools.cache
def asset_href(name: str) -> str:
    return f"{PREFIX}/assets/{name}?v={asset_version(name)}"


def render(template: str, status: int = 200, session: Session | None = None, **context: Any) -> web.Response:
    body = templates.get_template(f"console/{template}").render(
        stylesheet=asset_href("console.css"),
        script=asset_href("console.js"),
        texts=texts,
        nav=texts.NAV,
        staff=session.staff if session else None,
        csrf=session.csrf if session else "",
        can_act=accounts.can_act(session.staff) if session else False,
        role_zh=texts.ROLE_ZH.get(session.staff.role, session.staff.role) if session else "",
        **context,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def notice(status: int, title: str, text: str, session: Session | None = None) -> web.Response:
    return render("notice.html", status, session, title=title, text=text, active="")


def _single(form: Any, name: str) -> str:
    values = form.getall(name, [])
    return values[0] if len(values) == 1 and isinstance(values[0], str) else ""


Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


@dataclass
class Console:
    redis_key: web.AppKey[aioredis.Redis]
    settings_key: web.AppKey[Settings]
    config_key: web.AppKey[Config]
    streams: set[asyncio.Event] = field(default_factory=set)

    # ---- plumbing ----------------------------------------------------------------------------------

    def sessions(self, request: web.Request) -> Sessions:
        app = request.app
        return Sessions(app[self.redis_key], app[self.settings_key], app[self.config_key].console.idle_minutes)

    def secure(self, request: web.Request) -> bool:
        return request.app[self.config_key].server.public_base_url.startswith("https://")

    def page(self, handler: Handler, *, acts: bool = False) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A console route: a live session, else the login page; a POST needs the CSRF token; an action
        (`acts`) is refused to a viewer."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            session = await self.sessions(request).find(request.cookies.get(COOKIE))
            if session is None:
                if request.method == "GET" and not request.path.startswith((f"{PREFIX}/queue/", f"{PREFIX}/events")):
                    raise web.HTTPSeeOther(f"{PREFIX}/login?" + urlencode({"next": request.path_qs}))
                return notice(401, texts.SESSION_ENDED, texts.SESSION_ENDED)
            if acts and not accounts.can_act(session.staff):
                return notice(403, texts.FORBIDDEN_TITLE, texts.FORBIDDEN_VIEWER, session)
            if request.method == "POST":
                try:
                    form = await request.post()
                except ValueError:
                    form = None
                if form is None or not session.csrf_ok(_single(form, "csrf")):
                    return notice(403, texts.BAD_CSRF_TITLE, texts.BAD_CSRF, session)
            return await handler(request, session)

        return wrapped

    # ---- logging in and out ------------------------------------------------------------------------

    def login_form(
        self, request: web.Request, status: int = 200, error: str = "", username: str = "", next_url: str = ""
    ) -> web.Response:
        token = login_token()
        response = render(
            "login.html", status, error=error, username=username, login_csrf=token, next_url=next_url, active=""
        )
        response.set_cookie(
            LOGIN_COOKIE, token, path=f"{PREFIX}/login", httponly=True, samesite="Lax", secure=self.secure(request)
        )
        return response

    async def show_login(self, request: web.Request) -> web.StreamResponse:
        if await self.sessions(request).find(request.cookies.get(COOKIE), touch=False) is not None:
            raise web.HTTPSeeOther(PREFIX)
        return self.login_form(request, next_url=_safe_next(request.query.get("next", "")))

    async def login(self, request: web.Request) -> web.StreamResponse:
        try:
            form = await request.post()
        except ValueError:
            return self.login_form(request, 400, texts.LOGIN_STALE)
        username = _single(form, "username").strip()[:40]
        password = _single(form, "password")
        next_url = _safe_next(_single(form, "next"))
        if not same_token(request.cookies.get(LOGIN_COOKIE), _single(form, "csrf")):
            return self.login_form(request, 403, texts.LOGIN_STALE, username, next_url)
        sessions = self.sessions(request)
        address = request.remote or ""
        if await sessions.locked(username, address):
            return self.login_form(request, 429, texts.login_locked(LOCK_MINUTES), username, next_url)
        staff = await accounts.check_login(username, password)
        if staff is None:
            locked, left = await sessions.failed(username, address)
            if locked:
                return self.login_form(request, 429, texts.login_locked(LOCK_MINUTES), username, next_url)
            return self.login_form(request, 401, texts.LOGIN_FAILED + texts.attempts_left(left), username, next_url)
        await sessions.succeeded(username)
        session = await sessions.open(staff)
        response = web.HTTPSeeOther(next_url or PREFIX)
        response.set_cookie(
            COOKIE, session.token, path=PREFIX, httponly=True, samesite="Lax", secure=self.secure(request)
        )
        response.del_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
        raise response

    async def logout(self, request: web.Request, session: Session) -> web.StreamResponse:
        await self.sessions(request).close(session.token)
        response = notice(200, texts.LOGGED_OUT, texts.LOGGED_OUT)
        response.del_cookie(COOKIE, path=PREFIX)
        return response

    # ---- the queue ---------------------------------------------------------------------------------

    async def _queue(self, request: web.Request, session: Session, template: str, default_state: str) -> web.Response:
        query = dict(request.query)
        query.setdefault("state", default_state)
        try:
            filters = console_queue.parse_filters(query)
        except console_queue.BadFilter as bad:
            filters, error = console_queue.Filters(), str(bad)
        else:
            error = ""
        view = await console_queue.queue_view(filters, request.app[self.settings_key])
        active = "queue" if default_state == console_queue.Filters().state else "cases"
        return render(
            template,
            session=session,
            view=view,
            error=error,
            active=active,
            rows_url=f"{PREFIX}/queue/rows?" + urlencode(filters.query()),
            view_default_state=default_state,
        )

    async def queue(self, request: web.Request, session: Session) -> web.StreamResponse:
        return await self._queue(request, session, "queue.html", console_queue.Filters().state)

    async def all_cases(self, request: web.Request, session: Session) -> web.StreamResponse:
        code = find_code(request.query.get("code", "")[:40], request.app[self.settings_key].tracking_prefix)
        if code is not None and code.valid:
            raise web.HTTPSeeOther(f"{PREFIX}/cases/{code.code}")
        return await self._queue(request, session, "queue.html", console_queue.ALL)

    async def queue_rows(self, request: web.Request, session: Session) -> web.StreamResponse:
        return await self._queue(request, session, "queue_rows.html", console_queue.Filters().state)

    async def events(self, request: web.Request, session: Session) -> web.StreamResponse:
        """Server-sent events: `queue` whenever a case joins or leaves the triage queue (any process);
        the stream ends when the session does."""
        redis = request.app[self.redis_key]
        sessions = self.sessions(request)
        stop = asyncio.Event()
        self.streams.add(stop)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(triage_queue.changes_channel(request.app[self.settings_key]))
            await response.prepare(request)
            await response.write(b"retry: 3000\n: connected\n\n")
            loop = asyncio.get_running_loop()
            next_check = loop.time() + KEEPALIVE_S
            while not stop.is_set():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    data = message["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    await response.write(f"event: queue\ndata: {json.dumps(json.loads(text))}\n\n".encode())
                if loop.time() >= next_check:  # however busy the queue, the session is checked this often
                    next_check = loop.time() + KEEPALIVE_S
                    if await sessions.find(session.token, touch=False) is None:
                        await response.write(b"event: ended\ndata: {}\n\n")
                        break
                    await response.write(b": ping\n\n")
        except ConnectionResetError:  # the browser went away (a cancelled handler propagates)
            pass
        finally:
            self.streams.discard(stop)
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
                await pubsub.aclose()
        return response

    async def close_streams(self, _app: web.Application) -> None:
        for stop in list(self.streams):
            stop.set()

    # ---- one case ----------------------------------------------------------------------------------

    async def _case(self, request: web.Request) -> Case:
        code = find_code(request.match_info["code"][:40], request.app[self.settings_key].tracking_prefix)
        case = await Case.get_or_none(code=code.code) if code is not None and code.valid else None
        if case is None:
            raise web.HTTPNotFound()
        return case

    async def show_case(self, request: web.Request, session: Session) -> web.StreamResponse:
        try:
            case = await self._case(request)
        except web.HTTPNotFound:
            return notice(404, texts.NOT_FOUND_TITLE, texts.NOT_FOUND, session)
        detail = await console_case.case_detail(case)
        flash = await self._take_flash(request, session, case.code)
        return render("case.html", session=session, case=detail, flash=flash, active="cases")

    def _flash_key(self, request: web.Request, session: Session, code: str) -> str:
        digest = hashlib.sha256(session.token.encode()).hexdigest()[:32]
        return request.app[self.settings_key].key("console", "flash", digest, code)

    async def _take_flash(self, request: web.Request, session: Session, code: str) -> dict[str, str] | None:
        key = self._flash_key(request, session, code)
        redis = request.app[self.redis_key]
        raw = await redis.getdel(key)
        return json.loads(raw) if raw else None

    async def act(self, request: web.Request, session: Session) -> web.StreamResponse:
        action = request.match_info["action"]
        if action not in console_case.ACTIONS:
            return notice(404, texts.NOT_FOUND_TITLE, texts.NOT_FOUND, session)
        try:
            case = await self._case(request)
        except web.HTTPNotFound:
            return notice(404, texts.NOT_FOUND_TITLE, texts.NOT_FOUND, session)
        form = await request.post()
        fields = {name: _single(form, name) for name in form}
        app = request.app
        try:
            answer = await console_case.run_action(
                action, case, fields, session.staff, app[self.redis_key], app[self.settings_key]
            )
            flash = {"kind": "done", "title": texts.ACTION_DONE, "text": answer}
        except CommandError as refused:
            flash = {"kind": "refused", "title": texts.ACTION_REFUSED, "text": str(refused)}
        await app[self.redis_key].set(self._flash_key(request, session, case.code), json.dumps(flash), ex=300)
        raise web.HTTPSeeOther(f"{PREFIX}/cases/{case.code}")

    async def media(self, request: web.Request, session: Session) -> web.StreamResponse:
        case = await self._case(request)
        try:
            message_id = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        message = await CaseMessage.get_or_none(id=message_id, case=case)
        if message is None or not message.media_path:
            raise web.HTTPNotFound()
        path = await asyncio.to_thread(_media_file, request.app[self.config_key].intake.media_dir, message.media_path)
        if path is None:
            raise web.HTTPNotFound()
        content_type = content_type_for(path.name, mimetypes.guess_type(path.name)[0])
        headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
        headers["Content-Type"] = content_type
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return web.FileResponse(path, headers=headers)

    # ---- the figures (图谱, 时限, 委员, 联系点) -------------------------------------------------------

    def _figure(self, page: console_figures.FigurePage | None, session: Session) -> web.Response:
        if page is None:
            return notice(404, texts.NOT_FOUND_TITLE, texts.NOT_FOUND, session)
        return render("figure.html", session=session, fig=page, active=page.name)

    async def map_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        return self._figure(await console_figures.map_page(request.query), session)

    async def deadlines_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        settings = request.app[self.settings_key]
        return self._figure(await console_figures.deadlines_page(request.query, settings), session)

    async def members_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        key = request.match_info.get("key")
        return self._figure(await console_figures.members_page(request.query, key), session)

    async def points_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        key = request.match_info.get("key")
        return self._figure(await console_figures.points_page(request.query, key), session)

    async def export(self, request: web.Request, session: Session) -> web.StreamResponse:
        """A figure page's tables as CSV (one table, `table=`) or XLSX (all), with the page's filters."""
        name, key = request.match_info["name"], request.match_info.get("key")
        fmt = request.query.get("format", "csv")
        if name not in PAGES or fmt not in ("csv", "xlsx") or (key is not None and name not in ("members", "points")):
            return notice(404, texts.NOT_FOUND_TITLE, texts.NOT_FOUND, session)
        query = {k: v for k, v in request.query.items() if k not in ("format", "table")}
        figure = await console_figures.export_figure(name, query, request.app[self.settings_key], key)
        table = request.query.get("table") or None
        if figure is None or (table is not None and table not in figure.tables):
            return notice(404, texts.NOT_FOUND_TITLE, texts.NOT_FOUND, session)
        exported = await export_figure(figure, fmt, table)
        return web.Response(
            body=exported.body,
            headers={
                "Content-Type": exported.content_type,
                "Content-Disposition": f'attachment; filename="{exported.filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def code_image(self, request: web.Request, session: Session) -> web.StreamResponse:
        """A contact point's code (`?scene=`) as a PNG, or (`poster`) its poster, drawn in a thread."""
        code = await console_figures.code_of(request.match_info["key"], request.query.get("scene", ""))
        if code is None:
            return notice(404, texts.NOT_FOUND_TITLE, texts.NO_SUCH_CODE, session)
        from qr.codes import qr_png

        try:
            wxa_png = await read_wxa_png(code) if code.kind == QrKind.WXA else None
        except (QrError, OSError):
            return notice(404, texts.NOT_FOUND_TITLE, texts.NO_SUCH_CODE, session)
        name = f"{code.contact_point.key}-{code.kind}"
        if request.match_info["what"] == "poster":
            body = await self._poster(request, code, wxa_png)
            name += "-poster"
        elif wxa_png is not None:
            body = wxa_png
        else:
            body = await asyncio.to_thread(qr_png, code.url or "")
        headers = {
            "Content-Disposition": f'attachment; filename="{name}.png"',
            "Cache-Control": "private, max-age=300",
            "X-Content-Type-Options": "nosniff",
        }
        return web.Response(body=body, content_type="image/png", headers=headers)

    async def _poster(self, request: web.Request, code: QrCode, wxa_png: bytes | None) -> bytes:
        from qr.fonts import find_cjk_font
        from qr.posters import PosterSpec, poster_bytes

        config = request.app[self.config_key].poster
        point = code.contact_point
        spec = PosterSpec(
            committee_name=config.committee_name,
            contact_point_name=point.name,
            contact_point_key=point.key,
            headline=config.headline,
            instructions=config.instructions,
            payload=None if wxa_png is not None else code.url,
            code_png=wxa_png,
        )
        font = await asyncio.to_thread(find_cjk_font, config.font_path or None)
        return await asyncio.to_thread(poster_bytes, spec, "png", font)

    async def assets(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
        return web.Response(body=asset(name), content_type=ASSETS[name], charset="utf-8", headers=headers)


def _media_file(media_dir: str, media_path: str) -> Path | None:
    """The saved file, only if it is inside the media folder (and there)."""
    root, path = Path(media_dir).resolve(), Path(media_path).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def _safe_next(url: str) -> str:
    """Back where the login interrupted, inside the console only."""
    if url.startswith(PREFIX) and not url.startswith("//") and "\\" not in url and len(url) < 1000:
        return url
    return ""


def add_routes(
    app: web.Application,
    *,
    redis: web.AppKey[aioredis.Redis],
    settings: web.AppKey[Settings],
    config: web.AppKey[Config],
) -> None:
    console = Console(redis, settings, config)
    page = console.page
    router = app.router
    router.add_get(f"{PREFIX}/assets/{{name}}", console.assets)
    router.add_get(f"{PREFIX}/login", console.show_login)
    router.add_post(f"{PREFIX}/login", console.login)
    router.add_post(f"{PREFIX}/logout", page(console.logout))
    router.add_get(PREFIX, page(console.queue))
    router.add_get(f"{PREFIX}/", page(console.queue))
    router.add_get(f"{PREFIX}/queue/rows", page(console.queue_rows))
    router.add_get(f"{PREFIX}/events", page(console.events))
    router.add_get(f"{PREFIX}/cases", page(console.all_cases))
    router.add_get(f"{PREFIX}/cases/{{code}}", page(console.show_case))
    router.add_post(f"{PREFIX}/cases/{{code}}/{{action}}", page(console.act, acts=True))
    router.add_get(f"{PREFIX}/cases/{{code}}/media/{{id}}", page(console.media))
    router.add_get(f"{PREFIX}/map", page(console.map_page))
    router.add_get(f"{PREFIX}/deadlines", page(console.deadlines_page))
    router.add_get(f"{PREFIX}/members", page(console.members_page))
    router.add_get(f"{PREFIX}/members/{{key}}", page(console.members_page))
    router.add_get(f"{PREFIX}/points", page(console.points_page))
    router.add_get(f"{PREFIX}/points/{{key}}", page(console.points_page))
    router.add_get(f"{PREFIX}/points/{{key}}/{{what:code|poster}}.png", page(console.code_image))
    router.add_get(f"{PREFIX}/export/{{name}}", page(console.export))
    router.add_get(f"{PREFIX}/export/{{name}}/{{key}}", page(console.export))
    app.on_shutdown.append(console.close_streams)
