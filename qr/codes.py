"""Plain QR codes for any payload (a URL, a scene string, ...), as PNG, SVG or a Pillow image.

Built on the `qrcode` library. Error correction is M (15%) by default; Q (25%) is there for codes
that will be printed small or stuck where they get dirty. Nothing here touches the network.
"""

from __future__ import annotations

import io
from typing import Literal

import qrcode
import qrcode.image.svg
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M, ERROR_CORRECT_Q

ErrorCorrection = Literal["M", "Q"]
_EC_LEVELS: dict[str, int] = {"M": ERROR_CORRECT_M, "Q": ERROR_CORRECT_Q}

DEFAULT_BORDER = 4  # the quiet zone the QR standard asks for, in modules


class QRPayloadError(ValueError):
    """The payload cannot be put into a QR code (empty, or too long for version 40)."""


def _make(payload: str, error_correction: ErrorCorrection, border: int) -> qrcode.QRCode:
    if not payload:
        raise QRPayloadError("QR payload is empty")
    if error_correction not in _EC_LEVELS:
        raise ValueError(f"error correction must be one of {sorted(_EC_LEVELS)}: {error_correction!r}")
    if border < 0:
        raise ValueError(f"border must be >= 0: {border}")
    code = qrcode.QRCode(error_correction=_EC_LEVELS[error_correction], border=border)
    code.add_data(payload)
    try:
        code.make(fit=True)
    except (qrcode.exceptions.DataOverflowError, ValueError) as exc:  # ValueError: "Invalid version 41"
        raise QRPayloadError(f"payload of {len(payload)} characters does not fit in a QR code") from exc
    return code


def qr_matrix(payload: str, error_correction: ErrorCorrection = "M", border: int = DEFAULT_BORDER) -> list[list[bool]]:
    """The module matrix, quiet zone included (True = dark)."""
    return [list(row) for row in _make(payload, error_correction, border).get_matrix()]


def render_qr_image(
    payload: str,
    box_size: int = 10,
    border: int = DEFAULT_BORDER,
    error_correction: ErrorCorrection = "M",
) -> Image.Image:
    """The QR code as a Pillow image in mode "L" (black on white), `box_size` pixels per module."""
    if box_size < 1:
        raise ValueError(f"box_size must be >= 1: {box_size}")
    matrix = _make(payload, error_correction, border).get_matrix()
    n = len(matrix)
    # One pixel per module, then an exact nearest-neighbour scale: sharp edges, no anti-aliasing.
    small = Image.frombytes("L", (n, n), bytes(0 if dark else 255 for row in matrix for dark in row))
    if box_size == 1:
        return small
    return small.resize((n * box_size, n * box_size), Image.Resampling.NEAREST)


def qr_png(
    payload: str,
    box_size: int = 10,
    border: int = DEFAULT_BORDER,
    error_correction: ErrorCorrection = "M",
) -> bytes:
    """The QR code as PNG bytes (1-bit, small)."""
    image = render_qr_image(payload, box_size=box_size, border=border, error_correction=error_correction)
    out = io.BytesIO()
    image.convert("1").save(out, format="PNG", optimize=True)
    return out.getvalue()


def qr_svg(payload: str, border: int = DEFAULT_BORDER, error_correction: ErrorCorrection = "M") -> bytes:
    """The QR code as a standalone SVG document: white background, one path, 1 mm per module."""
    code = _make(payload, error_correction, border)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    svg = image.to_string(encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + svg.encode("utf-8")
