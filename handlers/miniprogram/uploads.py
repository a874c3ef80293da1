"""Files a mini-program citizen uploads before filing a case or a follow-up: recorded here (the bytes
are checked and written by bot/api/uploads.py), used once by the message they go into."""

from __future__ import annotations

import re
import secrets

from handlers.miniprogram.errors import invalid
from handlers.texts import miniprogram as texts
from models.entities import Case, CaseMessage, Citizen
from models.miniprogram import Upload
from models.state import record_event
from models.timeutil import now

MAX_PER_MESSAGE = 9  # what wx.chooseMedia lets a citizen pick at once


UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def new_upload_id() -> str:
    return secrets.token_urlsafe(16)  # 22 characters, 128 bits: unguessable


async def record_upload(citizen: Citizen, public_id: str, kind: str, content_type: str, size: int, path: str) -> Upload:
    return await Upload.create(
        public_id=public_id,
        citizen=citizen,
        kind=kind,
        content_type=content_type,
        size=size,
        path=path,
        created_at=now(),
    )


async def unused(citizen: Citizen, upload_ids: object) -> list[Upload]:
    """The citizen's own unused uploads named by `upload_ids`, in that order; else 422 on upload_ids
    (unknown, somebody else's and used ones alike)."""
    if upload_ids is None:
        return []
    if not isinstance(upload_ids, list) or not all(isinstance(item, str) for item in upload_ids):
        raise invalid("upload_ids", texts.field_invalid("附件"))
    if len(upload_ids) > MAX_PER_MESSAGE:
        raise invalid("upload_ids", texts.TOO_MANY_UPLOADS)
    # Only ids new_upload_id can have made reach the database (a NUL byte is an error on PostgreSQL).
    if len(set(upload_ids)) != len(upload_ids) or not all(UPLOAD_ID.fullmatch(item) for item in upload_ids):
        raise invalid("upload_ids", texts.UPLOAD_UNKNOWN)
    found = await Upload.filter(public_id__in=upload_ids, citizen=citizen, message_id=None)
    rows = {row.public_id: row for row in found}
    if len(rows) != len(upload_ids):
        raise invalid("upload_ids", texts.UPLOAD_UNKNOWN)
    return [rows[public_id] for public_id in upload_ids]


async def attach(case: Case, uploads: list[Upload], actor: str) -> list[CaseMessage]:
    """One case message per upload (its file already where the official account's media go), in the
    caller's transaction; an upload another request used meanwhile refuses the whole request."""
    messages = []
    for upload in uploads:
        moment = now()
        message = await CaseMessage.create(
            case=case,
            direction="in",
            author=actor,
            msg_type=upload.kind,
            content="",
            media_path=upload.path,
            extra={"upload_id": upload.public_id, "content_type": upload.content_type, "size": upload.size},
            created_at=moment,
        )
        if not await Upload.filter(id=upload.id, message_id=None).update(message_id=message.id):
            raise invalid("upload_ids", texts.UPLOAD_UNKNOWN)
        await record_event(case, "message.in", actor, at=moment, message_id=message.id, msg_type=upload.kind)
        saved = {"message_id": message.id, "path": upload.path, "bytes": upload.size}
        await record_event(case, "media.saved", "system", at=moment, **saved)
        messages.append(message)
    return messages
