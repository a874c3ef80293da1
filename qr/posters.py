"""Printable posters for contact points: A4 or A5 at 300 dpi, as a Pillow image, PNG or PDF.

Layout, top to bottom: a red band with the committee's name, the contact point's name, the headline
("扫码反映社情民意" unless configured), the code large and centred, short instructions, and the
contact point key in small print at the bottom. Every text block is fitted to the page width:
it shrinks, then wraps (balanced lines), and only at the smallest size is it cut with "…".

Rendering is CPU-bound (tens of milliseconds to a few hundred): async callers use
`render_poster_async` / `poster_bytes_async`, which run it in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from qr.codes import ErrorCorrection, qr_matrix
from qr.fonts import FontMissingError, find_cjk_font, load_font

__all__ = [
    "DEFAULT_HEADLINE",
    "DEFAULT_INSTRUCTIONS",
    "DPI",
    "PAGE_SIZES",
    "FontMissingError",
    "PosterFormat",
    "PosterSize",
    "PosterSpec",
    "encode_poster",
    "find_cjk_font",
    "poster_bytes",
    "poster_bytes_async",
    "render_poster",
    "render_poster_async",
    "render_poster_indexed",
]

PosterSize = Literal["a4", "a5"]
PosterFormat = Literal["png", "pdf"]

DPI = 300
PAGE_SIZES: dict[str, tuple[int, int]] = {"a4": (2480, 3508), "a5": (1748, 2480)}

DEFAULT_HEADLINE = "扫码反映社情民意"
DEFAULT_INSTRUCTIONS: tuple[str, ...] = (
    "① 打开微信“扫一扫”，扫描上方二维码",
    "② 按提示说明您遇到的问题或建议，可附照片",
    "③ 政协委员将跟进办理，进展通过微信告诉您",
)

# Colours. The poster is drawn straight into an indexed (palette) image, which PNG-encodes several
# times faster than RGB: that is what makes 1,000 posters a minute. Text is anti-aliased by Pillow
# blending palette *indices* linearly between background and fill, so the palette is laid out as
# ramps: 0..127 white -> black and 128..254 white -> red (index 128 looks white, like 0). Black-ish
# text is drawn on index 0, red text on index 128, white text on the red band (254) with fill 128;
# each blend then stays inside one ramp and lands on the right colour. 255 is the gold rule.
RED_RGB = (190, 22, 34)
GOLD_RGB = (214, 170, 60)

_BLACK_RAMP = 128  # indices 0..127
_RED_WHITE, _RED_FULL = 128, 254
GOLD = 255
WHITE = 0
BLACK = _BLACK_RAMP - 1  # the code's modules
INK = round(0.91 * BLACK)  # near-black text
GREY = round(0.63 * BLACK)
LIGHT = round(0.16 * BLACK)  # hairlines and the code frame
RED = _RED_FULL
RED_BAND_WHITE = _RED_WHITE  # white text on the red band, and the background under red text


def _palette() -> bytes:
    out = bytearray()
    for i in range(_BLACK_RAMP):
        v = 255 - round(255 * i / (_BLACK_RAMP - 1))
        out += bytes((v, v, v))
    steps = _RED_FULL - _RED_WHITE
    for i in range(steps + 1):
        out += bytes(round(255 + (c - 255) * i / steps) for c in RED_RGB)
    out += bytes(GOLD_RGB)
    assert len(out) == 3 * 256
    return bytes(out)


_PALETTE = _palette()
# Darkness 0..255 (255 = black) to an index on the black ramp, for code images.
_DARKNESS_TO_INDEX = [round(v * BLACK / 255) for v in range(256)]


@dataclass(frozen=True)
class PosterSpec:
    """What goes on one poster. Exactly one of `payload` (text to encode as a QR code, e.g. the URL of
    an official-account parametric code) and `code_png` (a ready code image, e.g. the mini-program
    code PNG returned by getwxacodeunlimit) must be given."""

    committee_name: str
    contact_point_name: str
    contact_point_key: str
    headline: str = DEFAULT_HEADLINE
    instructions: str | Sequence[str] = DEFAULT_INSTRUCTIONS
    payload: str | None = None
    code_png: bytes | None = None
    size: PosterSize = "a4"
    error_correction: ErrorCorrection = "M"

    def __post_init__(self) -> None:
        if (self.payload is None) == (self.code_png is None):
            raise ValueError("PosterSpec needs exactly one of payload and code_png")
        if self.payload is not None and not self.payload:
            raise ValueError("PosterSpec.payload is empty")
        if self.size not in PAGE_SIZES:
            raise ValueError(f"poster size must be one of {sorted(PAGE_SIZES)}: {self.size!r}")

    @property
    def instruction_lines(self) -> list[str]:
        lines = self.instructions.splitlines() if isinstance(self.instructions, str) else self.instructions
        return [line.strip() for line in lines if line.strip()]


# ---------------------------------------------------------------------------------------------------
# Text fitting

# Closing punctuation must not start a line; opening punctuation must not end one.
_NO_LINE_START = set("，。、；：！？）》」』】〕〉”’…·,.;:!?)]}%")
_NO_LINE_END = set("（《「『【〔〈“‘([{")
_TOKEN_RE = re.compile(r"[A-Za-z0-9@#&_./:+\-]+|\s+|.", re.DOTALL)
ELLIPSIS = "…"


def _tokens(text: str) -> list[str]:
    """Unbreakable units: latin words/numbers/URLs, whitespace runs, single CJK characters, with
    punctuation glued to its neighbour so that a line never starts with "，" or ends with "（"."""
    out: list[str] = []
    pending_open = ""
    for piece in _TOKEN_RE.findall(text):
        if piece in _NO_LINE_START and out and not out[-1].isspace():
            out[-1] += piece
        elif piece in _NO_LINE_END:
            pending_open += piece
        else:
            out.append(pending_open + piece)
            pending_open = ""
    if pending_open:
        out.append(pending_open)
    return out


_advance_cache: dict[ImageFont.FreeTypeFont, dict[str, float]] = {}


def _width(font: ImageFont.FreeTypeFont, text: str) -> float:
    """Width of a line: the sum of cached glyph advances. Text fitting measures hundreds of
    candidate lines per poster; summing advances is exact for CJK and off by kerning only."""
    advances = _advance_cache.get(font)
    if advances is None:
        if len(_advance_cache) > 256:
            _advance_cache.clear()
        advances = _advance_cache.setdefault(font, {})
    total = 0.0
    for char in text:
        advance = advances.get(char)
        if advance is None:
            advance = advances[char] = font.getlength(char)
        total += advance
    return total


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Greedy wrap of one paragraph; a token wider than the line is split by character."""
    lines: list[str] = []
    current = ""
    for token in _tokens(text):
        if token.isspace():
            if current:
                current += " "
            continue
        candidate = current + token
        if _width(font, candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current.rstrip())
            current = ""
        if _width(font, token) <= max_width:
            current = token
            continue
        for char in token:  # an over-long word or URL: break anywhere
            if current and _width(font, current + char) > max_width:
                lines.append(current)
                current = ""
            current += char
    if current.strip():
        lines.append(current.rstrip())
    return lines


def _balanced_wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Wrap into as few lines as the greedy wrap needs, but with lines of similar length
    (no lone character on the last line): the narrowest width that keeps the line count."""
    lines = _wrap(text, font, max_width)
    if len(lines) < 2:
        return lines
    low, high = max_width / len(lines), max_width
    best = lines
    for _ in range(12):
        mid = (low + high) / 2
        attempt = _wrap(text, font, mid)
        if len(attempt) <= len(lines):
            best, high = attempt, mid
        else:
            low = mid
    return best


@dataclass
class _TextBlock:
    lines: list[str]
    font: ImageFont.FreeTypeFont
    size: int
    line_height: int
    stroke: int = 0

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)


def _truncate(line: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    while line and _width(font, line + ELLIPSIS) > max_width:
        line = line[:-1]
    return line + ELLIPSIS


def _fit_text(
    text: str,
    font_path: str,
    max_width: int,
    max_size: int,
    min_size: int,
    max_lines: int,
    *,
    line_spacing: float = 1.3,
    bold: bool = False,
    prefer_one_line_down_to: float = 0.75,
) -> _TextBlock:
    """The largest size at which `text` fits in `max_width` and `max_lines`.

    One line is preferred while the size stays above `prefer_one_line_down_to` x max_size; then the
    text wraps; below `min_size` it is cut with an ellipsis, so the block never overflows."""
    paragraphs = [p for p in text.splitlines() if p.strip()] or [""]

    def attempt(size: int, allowed_lines: int) -> _TextBlock | None:
        font = load_font(font_path, size)
        stroke = max(1, size // 45) if bold else 0
        width = max_width - 2 * stroke
        lines: list[str] = []
        for paragraph in paragraphs:
            lines.extend(_balanced_wrap(paragraph, font, width) if allowed_lines > 1 else _wrap(paragraph, font, width))
        if len(lines) > allowed_lines:
            return None
        return _TextBlock(lines, font, size, round(size * line_spacing), stroke)

    sizes = _size_steps(max_size, min_size)
    if len(paragraphs) <= 1:
        for size in sizes:
            if size < max_size * prefer_one_line_down_to:
                break
            block = attempt(size, 1)
            if block:
                return block
    for size in sizes:
        block = attempt(size, max_lines)
        if block:
            return block
    # Smallest size and still too long: keep max_lines lines, the last one cut with "…".
    block = attempt(min_size, 10_000)
    assert block is not None
    if len(block.lines) > max_lines:
        kept = block.lines[: max_lines - 1]
        kept.append(_truncate(block.lines[max_lines - 1], block.font, max_width - 2 * block.stroke))
        block.lines = kept
    return block


def _size_steps(max_size: int, min_size: int) -> list[int]:
    sizes = []
    size = float(max_size)
    while size > min_size:
        sizes.append(round(size))
        size *= 0.93
    sizes.append(min_size)
    return sizes


class _Canvas:
    """An "L" image of palette indices that becomes the indexed ("P") poster."""

    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("L", (width, height), WHITE)
        self.draw = ImageDraw.Draw(self.image)

    def rectangle(self, box: tuple[int, int, int, int], index: int) -> None:
        self.draw.rectangle(box, fill=index)

    def text(
        self,
        block: _TextBlock,
        centre_x: int,
        top: int,
        index: int,
        *,
        left: int | None = None,
        background: int | None = None,
    ) -> None:
        """Draw a text block: lines centred on `centre_x`, or left-aligned at `left`. `background`,
        when given, is filled across the block's rows first (the ramp the text blends into)."""
        if background is not None:
            self.draw.rectangle((0, top, self.image.width, top + block.height), fill=background)
        for i, line in enumerate(block.lines):
            y = top + i * block.line_height + block.line_height // 2
            xy, anchor = ((centre_x, y), "mm") if left is None else ((left, y), "lm")
            self.draw.text(
                xy,
                line,
                font=block.font,
                fill=index,
                anchor=anchor,
                stroke_width=block.stroke,
                stroke_fill=index if block.stroke else None,
            )

    def indexed(self) -> Image.Image:
        """The finished poster as a "P" image with the poster palette."""
        self.image.putpalette(_PALETTE)  # "L" becomes "P"
        return self.image


# ---------------------------------------------------------------------------------------------------
# The code


def _code_indices(spec: PosterSpec, side: int) -> Image.Image:
    """The code as palette indices on the black ramp, at most `side` x `side` pixels, quiet zone
    included. A supplied code PNG (e.g. a mini-program code) is printed in greyscale."""
    if spec.payload is not None:
        matrix = qr_matrix(spec.payload, error_correction=spec.error_correction)
        n = len(matrix)
        box = max(1, side // n)
        small = Image.frombytes("L", (n, n), bytes(BLACK if dark else WHITE for row in matrix for dark in row))
        return small.resize((n * box, n * box), Image.Resampling.NEAREST)
    assert spec.code_png is not None
    with Image.open(io.BytesIO(spec.code_png)) as source:
        source.load()
        if source.mode in ("RGBA", "LA", "PA") or "transparency" in source.info:
            rgba = source.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            grey = flat.convert("L")
        else:
            grey = source.convert("L")
    code = grey.point([_DARKNESS_TO_INDEX[255 - v] for v in range(256)])
    scale = side / max(code.size)
    # Two-tone codes (a plain QR PNG) scale by a whole factor without smoothing: edges stay sharp.
    if scale >= 1 and code.getcolors(maxcolors=2) is not None:
        factor = int(scale)
        return code.resize((code.width * factor, code.height * factor), Image.Resampling.NEAREST)
    target = (max(1, round(code.width * scale)), max(1, round(code.height * scale)))
    return code.resize(target, Image.Resampling.LANCZOS)


# ---------------------------------------------------------------------------------------------------
# The poster


def render_poster(spec: PosterSpec, font_path: str | None = None) -> Image.Image:
    """The poster as an RGB image at 300 dpi (A4 2480x3508, A5 1748x2480). Blocking: CPU-bound."""
    return render_poster_indexed(spec, font_path).convert("RGB")


def render_poster_indexed(spec: PosterSpec, font_path: str | None = None) -> Image.Image:
    """The poster as an indexed ("P") image: what poster_bytes encodes. Blocking: CPU-bound."""
    font = find_cjk_font(font_path)
    width, height = PAGE_SIZES[spec.size]
    u = width / 2480  # layout unit: 1 px on A4
    margin = round(170 * u)
    text_width = width - 2 * margin
    canvas = _Canvas(width, height)

    # Committee band, red with a gold rule.
    committee = _fit_text(spec.committee_name, font, text_width, round(112 * u), round(56 * u), 2)
    band_height = max(round(400 * u), committee.height + round(190 * u))
    rule = round(16 * u)
    canvas.rectangle((0, 0, width, band_height), RED)
    canvas.rectangle((0, band_height, width, band_height + rule), GOLD)
    canvas.text(committee, width // 2, (band_height - committee.height) // 2, RED_BAND_WHITE)

    # Bottom: a hairline, the key in small print below it.
    key_block = _fit_text(f"联系点代号：{spec.contact_point_key}", font, text_width, round(40 * u), round(24 * u), 1)
    footer_top = height - round(110 * u) - key_block.height
    canvas.rectangle((margin, footer_top, width - margin, footer_top + max(2, round(3 * u))), LIGHT)
    canvas.text(key_block, width // 2, footer_top + round(40 * u), GREY)

    # Text blocks are measured first: the code gets the height that remains.
    label = _fit_text("委员联系点", font, text_width, round(58 * u), round(40 * u), 1)
    name = _fit_text(spec.contact_point_name, font, text_width, round(150 * u), round(70 * u), 2, line_spacing=1.25)
    headline = _fit_text(spec.headline, font, text_width, round(168 * u), round(80 * u), 2, bold=True)
    instruction_lines = spec.instruction_lines
    instr_max, instr_min = round(62 * u), round(40 * u)
    instructions = _fit_instructions(instruction_lines, font, text_width, instr_max, instr_min)

    gap = round(60 * u)
    label_gap = round(10 * u)
    pad = round(35 * u)  # white padding between the code and its frame
    top = band_height + rule + round(90 * u)
    bottom = footer_top - round(70 * u)
    max_code, min_code = round(1560 * u), round(1000 * u)

    def code_space(instr: _TextBlock | None) -> int:
        used = label.height + label_gap + name.height + gap + headline.height + gap + 2 * pad
        used += (gap + instr.height) if instr else 0
        return bottom - top - used

    space = code_space(instructions)
    while space < min_code and instructions is not None and instructions.size > instr_min:
        instructions = _fit_instructions(instruction_lines, font, text_width, instructions.size - 4, instr_min)
        space = code_space(instructions)
    code_side = max(round(600 * u), min(max_code, space))
    spare = max(0, space - code_side) // 4  # spread over the gaps around the code

    y = top + spare
    canvas.text(label, width // 2, y, GREY)
    y += label.height + label_gap
    canvas.text(name, width // 2, y, INK)
    y += name.height + gap
    canvas.text(headline, width // 2, y, RED, background=RED_BAND_WHITE)
    y += headline.height + gap + spare

    # The code, centred inside a thin rounded frame.
    code = _code_indices(spec, code_side)
    frame_side = code_side + 2 * pad
    frame_left = (width - frame_side) // 2
    canvas.draw.rounded_rectangle(
        (frame_left, y, frame_left + frame_side, y + frame_side),
        radius=round(40 * u),
        outline=LIGHT,
        width=max(2, round(5 * u)),
    )
    canvas.image.paste(code, ((width - code.width) // 2, y + pad + (code_side - code.height) // 2))
    y += frame_side + gap + spare

    if instructions is not None:
        # Left-aligned lines, the block as a whole centred on the page.
        block_width = max(round(_width(instructions.font, line)) for line in instructions.lines)
        canvas.text(instructions, width // 2, y, INK, left=(width - block_width) // 2)
    return canvas.indexed()


def _fit_instructions(lines: list[str], font: str, text_width: int, max_size: int, min_size: int) -> _TextBlock | None:
    """All instruction lines at one size, each wrapped to the width."""
    if not lines:
        return None
    return _fit_text("\n".join(lines), font, text_width, max_size, min_size, 2 * len(lines), line_spacing=1.55)


def poster_bytes(spec: PosterSpec, fmt: PosterFormat = "png", font_path: str | None = None) -> bytes:
    """The poster encoded as PNG (300 dpi, indexed colour) or a one-page PDF (300 dpi, A4/A5 page)."""
    return encode_poster(render_poster_indexed(spec, font_path), fmt)


_Z_RLE = 3  # zlib strategy: run-length matches suit flat poster areas; several times faster than default


def encode_poster(image: Image.Image, fmt: PosterFormat) -> bytes:
    """PNG or PDF bytes of a rendered poster image, tagged 300 dpi."""
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, format="PNG", dpi=(DPI, DPI), compress_type=_Z_RLE)
    elif fmt == "pdf":
        # Pillow writes an RGB page as JPEG; at quality 92 and 300 dpi the code keeps its sharp edges.
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        rgb.save(out, format="PDF", resolution=float(DPI), quality=92)
    else:
        raise ValueError(f"poster format must be png or pdf: {fmt!r}")
    return out.getvalue()


async def render_poster_async(spec: PosterSpec, font_path: str | None = None) -> Image.Image:
    """render_poster in a worker thread: the event loop never renders."""
    return await asyncio.to_thread(render_poster, spec, font_path)


async def poster_bytes_async(spec: PosterSpec, fmt: PosterFormat = "png", font_path: str | None = None) -> bytes:
    """poster_bytes in a worker thread: the event loop never renders or encodes."""
    return await asyncio.to_thread(poster_bytes, spec, fmt, font_path)
