"""Media a citizen sends (images, voice, video): kept by WeChat for 3 days, so fetched by a durable job.

WeChat is withdrawing the voice `Recognition` field: a voice often arrives with no text. Staff then read
「语音，未识别文字」 (with the duration once the file is stored) and listen through a link the product
serves: `media_link_url(message, settings)` makes it (a row in `media_link`, in the caller's transaction),
`settings.public_base_url` + `/media/<token>`; the token is 256 random bits, only its SHA-256 is stored,
and it expires after `[intake] media_link_ttl`. `open_media_link(token)` is the message it opens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from handlers.settings import Settings
from models.entities import CaseMessage
from models.media import MediaLink
from models.timeutil import now

MEDIA_TYPES = frozenset({"image", "voice", "video"})
DOWNLOAD_MEDIA = "media.download"  # {media_id, message_id, msg_type}: run by bot.outbound.citizen.MediaDownloader
# How a message that is not text reads in a summary or a digest, before its text (a voice's recognition, …).
LABELS = {"image": "[图片]", "voice": "[语音]", "video": "[视频]", "location": "[位置]", "link": "[链接]"}

# The voice formats WeChat sends, which `mimetypes` does not know: a stored file's extension, and the
# type it is served with again.
VOICE_TYPES = {"audio/amr": ".amr", "audio/amr-wb": ".awb", "audio/speex": ".spx", "voice/speex": ".spx"}
SERVED_TYPES = {".amr": "audio/amr", ".awb": "audio/amr-wb", ".spx": "audio/speex"}


def media_extension(content_type: str) -> str | None:
    return VOICE_TYPES.get(content_type.split(";")[0].strip().lower())


def content_type_for(name: str, guessed: str | None) -> str:
    """The content type to serve a saved file with (`guessed`: mimetypes' guess from its name)."""
    extension = name[name.rfind(".") :].lower() if "." in name else ""
    return SERVED_TYPES.get(extension) or guessed or "application/octet-stream"


PATH_PREFIX = "/media/"
TOKEN_BYTES = 32  # 256 bits, 43 URL-safe characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


async def media_link_url(message: CaseMessage, settings: Settings) -> str:
    """The absolute URL that plays (or shows) `message`'s stored file; a new token each call."""
    moment = now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await MediaLink.create(
        token_hash=_hash(token),
        message=message,
        created_at=moment,
        expires_at=moment + timedelta(seconds=settings.media_link_ttl_s),
    )
    return settings.public_base_url.rstrip("/") + PATH_PREFIX + token


async def open_media_link(token: str) -> CaseMessage | None:
    """The message a link opens; None for a token never issued, malformed, or expired."""
    if _TOKEN.fullmatch(token) is None:
        return None
    link = await MediaLink.get_or_none(token_hash=_hash(token)).prefetch_related("message")
    if link is None or link.expires_at <= now():
        return None
    return link.message


# ---- how long a voice is ------------------------------------------------------------------------------

# AMR storage format (RFC 4867 §5): a magic line, then frames of 20 ms, each a header byte whose bits 3-6
# are the frame type, then that type's speech bytes. Types 12-14 are reserved: not AMR.
_AMR_NB = (b"#!AMR\n", (12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, -1, -1, -1, 0))
_AMR_WB = (b"#!AMR-WB\n", (17, 23, 32, 36, 40, 46, 50, 58, 60, 5, -1, -1, -1, -1, 0, 0))
AMR_FRAME_S = 0.02
MAX_FRAMES = 30_000  # ten minutes; WeChat's voice messages last at most 60 s


def voice_duration_s(data: bytes) -> float | None:
    """The length of an AMR (narrow or wide band) recording, as WeChat sends voice; None for any other
    format (speex) or a file that is not whole."""
    known = [(magic, sizes) for magic, sizes in (_AMR_WB, _AMR_NB) if data.startswith(magic)]
    if not known:
        return None
    magic, sizes = known[0]
    position, frames = len(magic), 0
    while position < len(data):
        size = sizes[(data[position] >> 3) & 0x0F]
        if size < 0 or frames >= MAX_FRAMES:
            return None
        position += 1 + size
        frames += 1
    if position != len(data) or frames == 0:
        return None
    return frames * AMR_FRAME_S
