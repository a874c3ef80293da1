"""Rendering many posters at once: into a zip file or into a folder.

Posters are rendered in worker processes by default. Measured on the 2-core machine with
scripts/bench_posters.py (A4 PNG): one worker 22 posters/s; two threads 29-30/s, since Pillow
releases the GIL while it encodes but the qrcode library's mask selection and the text layout hold
it; two processes 36-38/s (1,000 posters in about 28 s). Workers are started with "spawn", which is
safe from a program that already runs threads (an asyncio service, a thread pool).

Files are named after the contact point key (`<key>.png` / `<key>.pdf`), in the order of `specs`.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from qr.fonts import find_cjk_font
from qr.posters import PosterFormat, PosterSpec, poster_bytes

Progress = Callable[[int, int], object]  # called as progress(done, total) after each poster
WorkerKind = Literal["process", "thread"]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def poster_filename(spec: PosterSpec, fmt: PosterFormat) -> str:
    stem = _UNSAFE_NAME.sub("_", spec.contact_point_key).strip("._") or "poster"
    return f"{stem}.{fmt}"


def _unique_names(specs: list[PosterSpec], fmt: PosterFormat) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        name = poster_filename(spec, fmt)
        stem, dot, ext = name.rpartition(".")
        n = 2
        while name in seen:
            name = f"{stem}-{n}{dot}{ext}"
            n += 1
        seen.add(name)
        names.append(name)
    return names


def _render_one(spec: PosterSpec, fmt: PosterFormat, font_path: str) -> bytes:
    return poster_bytes(spec, fmt, font_path)


def iter_posters(
    specs: Iterable[PosterSpec],
    fmt: PosterFormat,
    font_path: str | None,
    progress: Progress | None = None,
    workers: int = 2,
    kind: WorkerKind = "process",
) -> Iterator[tuple[str, bytes]]:
    """(file name, encoded poster) for each spec, in order, rendered by `workers` workers.

    The font is looked up once, before any worker starts, so a missing font fails at once with
    FontMissingError. At most a few posters per worker are held in memory at any time."""
    spec_list = list(specs)
    names = _unique_names(spec_list, fmt)
    total = len(spec_list)
    font = find_cjk_font(font_path)
    if workers <= 1 or total <= 1:
        for done, (spec, name) in enumerate(zip(spec_list, names, strict=True), start=1):
            data = poster_bytes(spec, fmt, font)
            if progress is not None:
                progress(done, total)
            yield name, data
        return

    executor: Executor
    if kind == "process":
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    else:
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poster")
    window = 4 * workers
    pending: deque[tuple[str, Future[bytes]]] = deque()
    todo = iter(zip(spec_list, names, strict=True))
    done = 0
    try:
        while True:
            while len(pending) < window:
                item = next(todo, None)
                if item is None:
                    break
                spec, name = item
                pending.append((name, executor.submit(_render_one, spec, fmt, font)))
            if not pending:
                break
            name, future = pending.popleft()
            data = future.result()
            done += 1
            if progress is not None:
                progress(done, total)
            yield name, data
    finally:
        for _name, future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


def render_posters_zip(
    specs: Iterable[PosterSpec],
    fmt: PosterFormat,
    font_path: str | None,
    out_path: str | os.PathLike[str],
    progress: Progress | None = None,
    workers: int = 2,
    kind: WorkerKind = "process",
) -> Path:
    """Render every poster and write them into one zip file at `out_path` (written to a temporary
    file first, renamed when complete). Returns the zip's path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        # PNG and PDF pages are compressed already: storing them is as small and much faster.
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, data in iter_posters(specs, fmt, font_path, progress, workers, kind):
                archive.writestr(name, data)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def render_posters_to_dir(
    specs: Iterable[PosterSpec],
    fmt: PosterFormat,
    font_path: str | None,
    out_dir: str | os.PathLike[str],
    progress: Progress | None = None,
    workers: int = 2,
    kind: WorkerKind = "process",
) -> list[Path]:
    """Render every poster into `out_dir` as `<key>.<fmt>`. Returns the written paths, in order."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, data in iter_posters(specs, fmt, font_path, progress, workers, kind):
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written
