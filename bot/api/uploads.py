"""`POST /api/v1/uploads`: one file in the multipart field `file`, told apart by its bytes.

Images (JPEG, PNG, WebP) up to 5 MiB; audio (MP3, AAC, M4A, AMR, WAV, Ogg, WeChat's SILK) and video
(MP4, QuickTime, 3GP, WebM) up to 10 MiB. The file's name and declared type are not believed: a
`.jpg` that is an executable is 415. The file is streamed to disk under `[intake] media_dir`/uploads
(where the official account's media go, a directory per citizen), never held whole in memory, and
recorded (handlers.miniprogram.uploads); a case message takes it later by its upload_id.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, web

from bot.api.context import resources
from bot.api.errors import ApiError
from handlers.miniprogram import uploads as upload_store
from handlers.texts import miniprogram as texts
from models.entities import Citizen

MIB = 1024 * 1024
LIMITS = {"image": 5 * MIB, "voice": 10 * MIB, "video": 10 * MIB}
LARGEST = max(LIMITS.values())
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file
CHUNK = 64 * 1024
SNIFF_BYTES = 16


@dataclass(frozen=True)
class Sniffed:
    kind: str  # image | voice | video
    content_type: str
    extension: str


def sniff(head: bytes) -> Sniffed | None:
    """What the first bytes of a file say it is, or None for anything we do not take."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "image/jpeg", ".jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "image/png", ".png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "image/webp", ".webp")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed("voice", "audio/wav", ".wav")
    if head.startswith(b"#!AMR"):
        return Sniffed("voice", "audio/amr", ".amr")
    if head.startswith((b"#!SILK_V3", b"\x02#!SILK_V3")):
        return Sniffed("voice", "audio/silk", ".silk")
    if head.startswith(b"OggS"):
        return Sniffed("voice", "audio/ogg", ".ogg")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] in (0xFB, 0xF3, 0xF2)):
        return Sniffed("voice", "audio/mpeg", ".mp3")
    if len(head) > 1 and head[0] == 0xFF and head[1] in (0xF1, 0xF9):
        return Sniffed("voice", "audio/aac", ".aac")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return Sniffed("voice", "audio/mp4", ".m4a")
        if brand.startswith(b"qt"):
            return Sniffed("video", "video/quicktime", ".mov")
        if brand.startswith(b"3g"):
            return Sniffed("video", "video/3gpp", ".3gp")
        return Sniffed("video", "video/mp4", ".mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "video/webm", ".webm")
    return None


def _too_large(kind: str) -> ApiError:
    message = texts.upload_too_large(texts.KIND_ZH[kind], LIMITS[kind] // MIB)
    return ApiError(413, "file_too_large", message, field="file")


async def _file_part(request: web.Request) -> BodyPartReader:
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", texts.UNSUPPORTED_MEDIA_TYPE)
    length = request.content_length
    if length is not None and length > LARGEST + MULTIPART_OVERHEAD:
        raise ApiError(413, "file_too_large", texts.upload_too_large("文件", LARGEST // MIB), field="file")
    try:
        reader = await request.multipart()
        for _ in range(8):  # a few other fields may come first; not a stream of them
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, BodyPartReader) and part.name == "file":
                return part
            await part.release()
    except (ValueError, AssertionError, RuntimeError):  # a body aiohttp cannot read as multipart
        raise ApiError(400, "malformed_multipart", texts.UPLOAD_MISSING, field="file") from None
    raise ApiError(422, "invalid", texts.UPLOAD_MISSING, field="file")


class _Incoming:
    """The file as it arrives: sniffed once its first bytes are in, written chunk by chunk to `partial`."""

    def __init__(self, partial: Path) -> None:
        self.partial = partial
        self.head = b""
        self.sniffed: Sniffed | None = None
        self.size = 0
        self.handle: BinaryIO | None = None

    async def add(self, chunk: bytes, *, last: bool = False) -> None:
        self.size += len(chunk)
        if self.sniffed is None:
            self.head += chunk
            if len(self.head) < SNIFF_BYTES and not last:
                return
            self.sniffed = sniff(self.head)
            if self.sniffed is None:
                raise ApiError(415, "unsupported_file_type", texts.UPLOAD_TYPE, field="file")
            chunk, self.head = self.head, b""
            self.handle = await asyncio.to_thread(_open, self.partial)
        if self.size > LIMITS[self.sniffed.kind]:
            raise _too_large(self.sniffed.kind)
        if chunk and self.handle is not None:
            await asyncio.to_thread(self.handle.write, chunk)

    async def close(self) -> None:
        if self.handle is not None and not self.handle.closed:
            await asyncio.to_thread(self.handle.close)


async def receive(request: web.Request, citizen: Citizen) -> web.Response:
    api = resources(request)
    part = await _file_part(request)
    public_id = upload_store.new_upload_id()
    folder = api.media_dir / "uploads" / str(citizen.id)
    incoming = _Incoming(folder / f"{public_id}.part")
    try:
        try:
            while chunk := await part.read_chunk(CHUNK):
                await incoming.add(chunk)
            if incoming.head:
                await incoming.add(b"", last=True)
        except (ValueError, AssertionError, RuntimeError):
            raise ApiError(400, "malformed_multipart", texts.UPLOAD_MISSING, field="file") from None
        sniffed = incoming.sniffed
        if sniffed is None:
            raise ApiError(422, "invalid", texts.UPLOAD_MISSING, field="file")
        await incoming.close()
        path = folder / f"{public_id}{sniffed.extension}"
        await asyncio.to_thread(incoming.partial.replace, path)
    finally:
        await incoming.close()
        with contextlib.suppress(OSError):
            await asyncio.to_thread(incoming.partial.unlink, missing_ok=True)
    size = incoming.size
    await upload_store.record_upload(citizen, public_id, sniffed.kind, sniffed.content_type, size, str(path))
    body = {"upload_id": public_id, "kind": sniffed.kind, "content_type": sniffed.content_type, "size": size}
    return web.json_response(body, status=201)


def _open(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")
