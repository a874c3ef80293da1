"""Finding and loading a font that can draw Chinese.

Posters are useless with tofu boxes instead of characters, so a font only counts when it really has
a glyph for 政. An explicit path (poster.font_path) is that very file, or an error naming it.
Without one, the search order: the font of the `noto-cjk-sans-otc` Python package when it is
installed, fontconfig (fc-match / fc-list for :lang=zh), then well-known file names under the usual
font folders. Tests inject `search_dirs` to simulate a machine without fonts.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
import itertools
import os
import shutil
import stat
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
    "未找到中文字体：请安装 apt-get install fonts-noto-cjk（或 fonts-wqy-zenhei），"
    "或 pip install noto-cjk-sans-otc，或设置 poster.font_path"
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
    """No font with Chinese glyphs could be found, or the configured one cannot draw Chinese; the
    message is one line saying what to install or which file is wrong."""


def _open_font(path: str, size: int, index: int = 0) -> ImageFont.FreeTypeFont:
    """The font in the file at `path` itself. Not ImageFont.truetype: when a file fails to load, that
    one looks for a file of the same name under the system font folders and silently loads it
    instead, so a broken wqy-zenhei.ttc anywhere would pass for the installed WenQuanYi font."""
    return ImageFont.FreeTypeFont(path, size, index=index)


def _face_index(path: str) -> int:
    """For a font collection (.ttc/.otc) the index of its Simplified Chinese face, else 0."""
    return _collection_face_index(path) if path.lower().endswith((".ttc", ".otc")) else 0


@functools.lru_cache(maxsize=64)
def _collection_face_index(path: str) -> int:
    for index in range(32):
        try:
            family = _open_font(path, 16, index).getname()[0] or ""
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
        font = _open_font(path, size, _face_index(path))
        if len(cache) > 256:
            cache.clear()
        cache[(path, size)] = font
    return font


def has_cjk_glyphs(path: str) -> bool:
    """True when the font at `path` loads and has a real glyph for 政 (not the .notdef box)."""
    return cjk_font_problem(path) is None


def cjk_font_problem(path: str) -> str | None:
    """Why the file at `path` cannot draw Chinese, one short phrase in Chinese and English; None
    when it is a font with a real glyph for 政."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "文件不存在"
    except OSError as exc:
        return f"无法读取（{exc.strerror or exc}）"
    if not stat.S_ISREG(info.st_mode):
        return "不是普通文件"
    if not os.access(path, os.R_OK):
        return "无法读取（没有权限）"
    return _cjk_font_problem(path, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _cjk_font_problem(path: str, _size: int, _mtime_ns: int) -> str | None:
    try:
        font = _open_font(path, 48, _face_index(path))
    except (OSError, ValueError) as exc:
        return f"不是字体文件（{exc}）"
    try:
        probe = font.getmask(PROBE_CHAR)
        notdef = font.getmask(_NOTDEF_CHAR)
    except (OSError, ValueError) as exc:
        return f"无法用它绘制文字（{exc}）"
    if probe.getbbox() is None or (probe.size == notdef.size and bytes(probe) == bytes(notdef)):
        return f"没有中文字形（画不出「{PROBE_CHAR}」）"
    return None


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

    `explicit` (e.g. the configured poster.font_path) is the font when it is a font file with CJK
    glyphs, and refused otherwise: no other font silently takes its place. Without it, with
    `search_dirs` None, the default search runs (package font, fontconfig, system folders); with
    `search_dirs` given only those folders are searched. Raises FontMissingError.
    """
    if explicit:
        problem = cjk_font_problem(explicit)
        if problem is None:
            return explicit
        raise FontMissingError(
            f"中文字体不可用：poster.font_path {explicit}：{problem}；"
            "请指向含中文字形的字体文件，或留空以自动查找"
        )
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
    raise FontMissingError(INSTALL_HINT)
