"""Codes for contact points: made once through the WeChat API and kept, never made twice.

- Official-account permanent code (QR_LIMIT_STR_SCENE, scene `cp:<key>`): WeChat allows 100,000 per
  account and never deletes one, so every code made is stored and reused, and the count is checked
  before any call: refused when it would pass the limit, a warning from 95 % on.
- Official-account temporary code (QR_STR_SCENE, up to 30 days) for events: a new one each time.
- Mini-program code (getwxacodeunlimit, scene `cp=<key>`, at most 32 characters): unlimited and
  never expiring; the PNG is stored on disk and fetched again only when the page changed or the
  file is gone.

The API clients come in as parameters (small protocols below): handlers never import bot/.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.entities import ContactPoint
from models.qr import QrCode, QrKind
from models.timeutil import now
from qr.scenes import SceneError, oa_scene, validate_key, wxa_scene

PERMANENT_QR_LIMIT = 100_000  # WeChat's limit of permanent parametric codes per official account
PERMANENT_QR_WARN_FRACTION = 0.95
MAX_TEMP_EXPIRE_S = 2_592_000  # 30 days, WeChat's maximum for a temporary code
QR_LIMIT_ERRCODE = 45029  # WeChat: "qrcode count out of limit"

Progress = Callable[[], object]  # called once per contact point done


class QrCodeApi(Protocol):
    """The official-account client's code call (bot.outbound.wechat_api.WeChatClient)."""

    async def create_qrcode(self, scene_str: str, expire_seconds: int | None = None) -> dict[str, Any]: ...


class WxaCodeApi(Protocol):
    """The mini-program client's code call (bot.outbound.wechat_api.MiniProgramClient)."""

    async def get_unlimited_code(self, scene: str, page: str, width: int = 430, check_path: bool = False) -> bytes: ...


class QrError(Exception):
    """A problem the person running the command can fix; the message is one line, in Chinese first."""


class UnknownContactPoints(QrError):
    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__(f"未知联系点：{', '.join(keys)}")
        self.keys = list(keys)


class RevokedContactPoints(QrError):
    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__(f"联系点已停用，不再制码：{', '.join(keys)}")
        self.keys = list(keys)


class PermanentLimitReached(QrError):
    """Making the codes asked for would pass the account's limit of permanent codes."""


@dataclass
class CodeResult:
    point: ContactPoint
    code: QrCode
    created: bool  # False: an existing code was reused, no API call


@dataclass
class MakeReport:
    results: list[CodeResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(1 for r in self.results if r.created)

    @property
    def reused(self) -> int:
        return sum(1 for r in self.results if not r.created)


# ---- contact points ------------------------------------------------------------------------------


async def find_points(
    keys: Sequence[str], *, all_active: bool = False, allow_revoked: bool = False
) -> list[ContactPoint]:
    """The contact points named by `keys` (in that order, duplicates dropped), or every active one.

    Unknown keys raise UnknownContactPoints naming all of them; revoked ones RevokedContactPoints
    unless `allow_revoked`."""
    if all_active:
        return list(await ContactPoint.filter(revoked_at=None).order_by("id"))
    wanted = list(dict.fromkeys(keys))
    found = {p.key: p for p in await ContactPoint.filter(key__in=wanted)}
    unknown = [key for key in wanted if key not in found]
    if unknown:
        raise UnknownContactPoints(unknown)
    points = [found[key] for key in wanted]
    revoked = [p.key for p in points if not p.is_active]
    if revoked and not allow_revoked:
        raise RevokedContactPoints(revoked)
    return points


# ---- official-account permanent codes ------------------------------------------------------------


async def permanent_codes_used() -> int:
    """Permanent codes this system has made (revoked ones included: WeChat never gives them back)."""
    return await QrCode.filter(kind=QrKind.OA).count()


def check_permanent_budget(used: int, needed: int, limit: int) -> str | None:
    """Raise PermanentLimitReached when `needed` more codes would pass `limit`; a warning text from 95 %."""
    if needed <= 0:
        return None
    if used + needed > limit:
        raise PermanentLimitReached(
            f"公众号永久二维码将超出上限：已用 {used}，本次需新建 {needed}，上限 {limit}。"
            f"请改用小程序码（--kind wxa，无数量限制）或临时码（--expire）"
        )
    if used + needed >= limit * PERMANENT_QR_WARN_FRACTION:
        left = limit - used - needed
        return (
            f"注意：公众号永久二维码已用 {used + needed}/{limit}，仅剩 {left} 个；"
            f"新联系点请考虑使用小程序码（--kind wxa）"
        )
    return None


def _slot(kind: QrKind, scene: str) -> str:
    return f"{kind.value}:{scene}"


async def _existing(kind: QrKind, points: Sequence[ContactPoint], scene_of: Callable[[str], str]) -> dict[int, QrCode]:
    slots = {_slot(kind, scene_of(p.key)): p.id for p in points}
    rows = await QrCode.filter(slot__in=list(slots))
    return {slots[row.slot]: row for row in rows if row.slot is not None}


async def _store_once(values: dict[str, Any]) -> tuple[QrCode, bool]:
    """Insert the code row; when a concurrent run stored the same slot first, keep theirs."""
    try:
        async with in_transaction():
            return await QrCode.create(**values), True
    except IntegrityError:
        return await QrCode.get(slot=values["slot"]), False


async def ensure_oa_codes(
    api: QrCodeApi,
    points: Sequence[ContactPoint],
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> MakeReport:
    """The permanent official-account code of each point: the stored one, or a new one made once.

    The limit is checked for all the missing codes before the first call. `limit` defaults to
    PERMANENT_QR_LIMIT (read at call time)."""
    limit = PERMANENT_QR_LIMIT if limit is None else limit
    report = MakeReport()
    existing = await _existing(QrKind.OA, points, oa_scene)
    missing = [p for p in points if p.id not in existing]
    warning = check_permanent_budget(await permanent_codes_used(), len(missing), limit)
    if warning:
        report.warnings.append(warning)
    for point in points:
        code = existing.get(point.id)
        created = False
        if code is None:
            scene = oa_scene(point.key)
            try:
                answer = await api.create_qrcode(scene)
            except Exception as exc:
                # The API error type lives in bot/; its errcode attribute is all we need here.
                if getattr(exc, "errcode", None) == QR_LIMIT_ERRCODE:
                    raise PermanentLimitReached(
                        "微信返回：公众号永久二维码已达上限（错误码 45029，可能有其他系统也在用同一公众号制码）"
                    ) from exc
                raise
            code, created = await _store_once(
                {
                    "contact_point": point,
                    "kind": QrKind.OA,
                    "scene": scene,
                    "slot": _slot(QrKind.OA, scene),
                    "ticket": answer["ticket"],
                    "url": answer["url"],
                    "created_at": now(),
                }
            )
        report.results.append(CodeResult(point, code, created))
        if progress is not None:
            progress()
    return report


# ---- official-account temporary codes ------------------------------------------------------------


def check_expire(expire_seconds: int) -> int:
    if not 1 <= expire_seconds <= MAX_TEMP_EXPIRE_S:
        raise QrError(
            f"临时码有效期须为 1 至 {MAX_TEMP_EXPIRE_S} 秒（30 天），收到 {expire_seconds}"
        )
    return expire_seconds


async def make_temp_codes(
    api: QrCodeApi,
    points: Sequence[ContactPoint],
    expire_seconds: int,
    *,
    progress: Progress | None = None,
) -> MakeReport:
    """A new temporary code for each point (events, meetings); they cost nothing and expire."""
    check_expire(expire_seconds)
    report = MakeReport()
    for point in points:
        scene = oa_scene(point.key)
        answer = await api.create_qrcode(scene, expire_seconds=expire_seconds)
        granted = int(answer.get("expire_seconds", expire_seconds))
        moment = now()
        code = await QrCode.create(
            contact_point=point,
            kind=QrKind.OA_TEMP,
            scene=scene,
            ticket=answer["ticket"],
            url=answer["url"],
            expire_at=moment + timedelta(seconds=granted),
            created_at=moment,
        )
        report.results.append(CodeResult(point, code, True))
        if progress is not None:
            progress()
    return report


# ---- mini-program codes --------------------------------------------------------------------------


def check_wxa_scenes(points: Sequence[ContactPoint]) -> None:
    """Every point's mini-program scene fits WeChat's 32 characters, checked before any call."""
    problems: list[str] = []
    for point in points:
        try:
            wxa_scene(point.key)
        except SceneError as exc:
            problems.append(str(exc))
    if problems:
        raise QrError(f"小程序码场景值不合规：{'; '.join(problems)}")


def image_extension(data: bytes) -> str:
    """The file extension the image bytes call for: WeChat sends mini-program codes as JPEG."""
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    raise QrError("微信返回的小程序码不是图片（既不是 JPEG 也不是 PNG）")


def wxa_file_name(key: str, extension: str = ".jpg") -> str:
    return f"{validate_key(key)}-wxa{extension}"


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)


async def ensure_wxa_codes(
    api: WxaCodeApi,
    points: Sequence[ContactPoint],
    *,
    page: str,
    out_dir: str | Path,
    width: int = 430,
    progress: Progress | None = None,
) -> MakeReport:
    """The mini-program code image of each point as `<out_dir>/<key>-wxa.jpg` (`.png` if WeChat sent one).

    A stored code for the same page whose file still exists is copied, not fetched again."""
    check_wxa_scenes(points)
    folder = Path(out_dir)
    report = MakeReport()
    existing = await _existing(QrKind.WXA, points, wxa_scene)
    for point in points:
        scene = wxa_scene(point.key)
        code = existing.get(point.id)
        stored = Path(code.file_path) if code is not None and code.file_path else None
        reusable = (
            code is not None and code.page == page and stored is not None and await asyncio.to_thread(stored.is_file)
        )
        if reusable and code is not None and stored is not None:
            target = (folder / wxa_file_name(point.key, stored.suffix or ".jpg")).resolve()
            await asyncio.to_thread(_copy_file, stored, target)
            report.results.append(CodeResult(point, code, False))
        else:
            image = await api.get_unlimited_code(scene, page, width=width)
            target = (folder / wxa_file_name(point.key, image_extension(image))).resolve()
            await asyncio.to_thread(_write_file, target, image)
            if code is None:
                code, created = await _store_once(
                    {
                        "contact_point": point,
                        "kind": QrKind.WXA,
                        "scene": scene,
                        "slot": _slot(QrKind.WXA, scene),
                        "page": page,
                        "file_path": str(target),
                        "created_at": now(),
                    }
                )
                if not created:
                    code.page, code.file_path = page, str(target)
                    await code.save(update_fields=["page", "file_path"])
            else:
                code.page, code.file_path = page, str(target)
                await code.save(update_fields=["page", "file_path"])
            report.results.append(CodeResult(point, code, True))
        if progress is not None:
            progress()
    return report


async def points_without_code(kind: QrKind, points: Sequence[ContactPoint]) -> list[ContactPoint]:
    """The points whose code of `kind` (official account or mini-program) has not been made yet."""
    scene_of = wxa_scene if kind == QrKind.WXA else oa_scene
    existing = await _existing(kind, points, scene_of)
    return [point for point in points if point.id not in existing]


async def read_wxa_png(code: QrCode) -> bytes:
    if not code.file_path:
        raise QrError(f"小程序码文件缺失：{code.scene}")
    return await asyncio.to_thread(Path(code.file_path).read_bytes)


# ---- revocation ----------------------------------------------------------------------------------


@dataclass
class RevokeResult:
    point: ContactPoint
    already: bool  # was revoked before
    codes: int  # codes marked revoked now


async def revoke_points(keys: Sequence[str]) -> list[RevokeResult]:
    """Stop contact points: scans of their codes then get the polite "已停止使用" greeting (the codes
    themselves cannot be deleted at WeChat). Idempotent."""
    points = await find_points(keys, allow_revoked=True)
    results: list[RevokeResult] = []
    moment = now()
    async with in_transaction():
        for point in points:
            already = not point.is_active
            if not already:
                point.revoked_at = moment
                await point.save(update_fields=["revoked_at"])
            codes = await QrCode.filter(contact_point=point, revoked_at=None).update(revoked_at=moment)
            results.append(RevokeResult(point, already, codes))
    return results
