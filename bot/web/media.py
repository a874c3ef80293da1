"""The HTTP side of staff's links to a citizen's voice (or image, video): `handlers/cases/media.py`.

    GET  /media/<token>          the stored file, as it came from WeChat (a notice when it cannot be had)
    GET  /media/assets/<name>    the notices' stylesheet (the case page's)

The token is the only key: unknown, malformed and expired tokens get the same 404 notice (no oracle). A
file is served only from under `[intake] media_dir`, never cached, with no Referer and its type fixed.
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.web.case_page import notice, serve_asset
from handlers.cases.media import PATH_PREFIX, SERVED_TYPES, open_media_link
from handlers.texts import staff as texts

FILE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; media-src 'self'; img-src 'self'; sandbox",
}
RETRY_AFTER_S = 30


@dataclass(frozen=True)
class MediaFiles:
    media_dir: Path

    def _stored_file(self, stored: str) -> Path | None:
        """The file at `stored` if it is one and lies under media_dir (file system calls: in a thread)."""
        path = Path(stored).resolve()
        return path if path.is_relative_to(self.media_dir.resolve()) and path.is_file() else None

    async def show(self, request: web.Request) -> web.StreamResponse:
        message = await open_media_link(request.match_info["token"])
        if message is None:
            return notice(404, texts.MEDIA_GONE_TITLE, texts.MEDIA_GONE)
        if not message.media_path:  # the media job has not stored it yet (or WeChat no longer had it)
            response = notice(503, texts.MEDIA_NOT_YET_TITLE, texts.MEDIA_NOT_YET)
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        path = await asyncio.to_thread(self._stored_file, message.media_path)
        if path is None:
            return notice(404, texts.MEDIA_GONE_TITLE, texts.MEDIA_FILE_MISSING)
        content_type = SERVED_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
        headers = {
            **FILE_HEADERS,
            "Content-Type": content_type or "application/octet-stream",
            "Content-Disposition": f'inline; filename="{message.msg_type}-{message.id}{path.suffix}"',
        }
        return web.FileResponse(path, headers=headers)


def add_routes(app: web.Application, *, media_dir: Path) -> None:
    files = MediaFiles(media_dir)
    app.router.add_get(f"{PATH_PREFIX}assets/{{name}}", serve_asset)
    app.router.add_get(f"{PATH_PREFIX}{{token}}", files.show)
