"""Finding and loading a font that can draw Chinese.

Posters are useless with tofu boxes instead of characters, so a font only counts when it really has
a glyph for 政. The search order: an explicit path, the font of the `noto-cjk-sans-otc` Python
package when it is installed, fontconfig (fc-match / fc-list for :lang=zh), then well-known file
names under the usual font folders. Tests inject `search_dirs` to simulate a machine without fonts.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
import itertools
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import ImageFont

PROBE_CHAR = "政"
# A noncharacter: no font maps it, so it renders as the font's .notdef glyph (the tofu box).
_NOTDEF_CHAR = "\ufdd0"
FONT_EXTENSIONS = (".ttf", ".ttc", ".otf", ".otc")

INSTALL_HINT = (
    "未找到中文字体 (no CJK font found): apt-get install fonts-noto-cjk (or fonts-wqy-zenhei), "
    "or pip install noto-cjk-sans-otc, or set poster.font_path"
)

DEFAULT_FONT_DIRS: tuple[str, ...] = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/System/Library/Fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)

# File-name patterns (lower case) in order of preference: Simplified Chinese faces first.
FONT_NAME_PATTERNS: tuple[str, ...] = (
    "notosanscjk*",
    "notosanssc*",
    "sourcehansans*",
    "sourcehansanssc*",
    "wqy-zenhei*",
    "wqy-microhei*",
    "notoserifcjk*",
    "sourcehanserif*",
    "droidsansfallback*",
    "simhei*",
    "msyh*",
    "simsun*",
    "pingfang*",
    "*cjk*",
)


class FontMissingError(RuntimeError):
    """No font with Chinese glyphs could be found; the message is one line saying what to install."""


def _face_index(path: str) -> int:
    """For a font collection (.ttc/.otc) the index of its Simplified Chinese face, else 0."""
    return _collection_face_index(path) if path.lower().endswith((".ttc", ".otc")) else 0


@functools.lru_cache(maxsize=64)
def _collection_face_index(path: str) -> int:
    for index in range(32):
        try:
            family = ImageFont.truetype(path, 16, index=index).getname()[0] or ""
        except OSError:
            break
        # "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei" (index 0) ...
        if family.endswith(" SC") and "Mono" not in family:
            return index
    return 0


_local = threading.local()


def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A cached FreeType font. Caches are per thread: a FreeType face must not be shared across threads."""
    cache: dict[tuple[str, int], ImageFont.FreeTypeFont] | None = getattr(_local, "fonts", None)
    if cache is None:
        cache = {}
        _local.fonts = cache
    font = cache.get((path, size))
    if font is None:
        font = ImageFont.truetype(path, size, index=_face_index(path))
        if len(cache) > 256:
            cache.clear()
        cache[(path, size)] = font
    return font


def has_cjk_glyphs(path: str) -> bool:
    """True when the font at `path` loads and has a real glyph for 政 (not the .notdef box)."""
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return _has_cjk_glyphs(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _has_cjk_glyphs(path: str, _size: int, _mtime_ns: int) -> bool:
    try:
        font = ImageFont.truetype(path, 48, index=_face_index(path))
        probe = font.getmask(PROBE_CHAR)
        notdef = font.getmask(_NOTDEF_CHAR)
    except (OSError, ValueError):
        return False
    if probe.getbbox() is None:
        return False
    return not (probe.size == notdef.size and bytes(probe) == bytes(notdef))


def _package_fonts() -> Iterator[str]:
    """The font shipped by the noto-cjk-sans-otc wheel (a dev extra), located without importing it."""
    spec = importlib.util.find_spec("noto_cjk_sans_otc")
    if spec is None or not spec.submodule_search_locations:
        return
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "NotoSansCJK-Regular.ttc"
        if candidate.is_file():
            yield str(candidate)


def _fontconfig_fonts() -> Iterator[str]:
    fc_match = shutil.which("fc-match")
    fc_list = shutil.which("fc-list")
    commands = []
    if fc_match:
        commands.append([fc_match, "-f", "%{file}", ":lang=zh-cn"])
    if fc_list:
        commands.append([fc_list, "-f", "%{file}\n", ":lang=zh"])
    for command in commands:
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        files = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        yield from sorted(files, key=_preference)


def _preference(path: str) -> int:
    name = os.path.basename(path).lower()
    for rank, pattern in enumerate(FONT_NAME_PATTERNS):
        if fnmatch.fnmatch(name, pattern):
            return rank
    return len(FONT_NAME_PATTERNS)


def _directory_fonts(dirs: Sequence[str | os.PathLike[str]]) -> Iterator[str]:
    found: list[str] = []
    for root in dirs:
        top = os.path.expanduser(os.fspath(root))
        if not os.path.isdir(top):
            continue
        for folder, _subdirs, names in os.walk(top):
            for name in names:
                lower = name.lower()
                if lower.endswith(FONT_EXTENSIONS) and _preference(lower) < len(FONT_NAME_PATTERNS):
                    found.append(os.path.join(folder, name))
    yield from sorted(found, key=lambda p: (_preference(p), p))


_found_cache: dict[tuple[str, ...] | None, str] = {}
_found_lock = threading.Lock()


def find_cjk_font(explicit: str | None = None, *, search_dirs: Sequence[str | os.PathLike[str]] | None = None) -> str:
    """Path of a font that can draw Chinese.

    `explicit` (e.g. the configured poster.font_path) wins when it exists and has CJK glyphs.
    Otherwise, with `search_dirs` None, the default search runs (package font, fontconfig, system
    folders); with `search_dirs` given only those folders are searched. Raises FontMissingError.
    """
    if explicit and os.path.isfile(explicit) and has_cjk_glyphs(explicit):
        return explicit
    cache_key = None if search_dirs is None else tuple(os.fspath(d) for d in search_dirs)
    with _found_lock:
        cached = _found_cache.get(cache_key)
    if cached is not None and os.path.isfile(cached):
        return cached
    if search_dirs is None:
        candidates: Iterator[str] = itertools.chain(
            _package_fonts(), _fontconfig_fonts(), _directory_fonts(DEFAULT_FONT_DIRS)
        )
    else:
        candidates = _directory_fonts(search_dirs)
    seen: set[str] = set()
    for candidate in candidates:
        if candidate in seen:
            continue
        seen.add(candidate)
        if os.path.isfile(candidate) and has_cjk_glyphs(candidate):
            with _found_lock:
                _found_cache[cache_key] = candidate
            return candidate
    if explicit:
        raise FontMissingError(f"{INSTALL_HINT} (poster.font_path {explicit} is missing or has no CJK glyphs)")
    raise FontMissingError(INSTALL_HINT)
