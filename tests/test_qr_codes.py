"""Plain QR codes: PNG and the image decode back to the payload, the SVG is valid XML of the same code."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image

from qr.codes import QRPayloadError, qr_matrix, qr_png, qr_svg, render_qr_image
from qr.scenes import oa_scene, wxa_scene

SVG_NS = "{http://www.w3.org/2000/svg}"

PAYLOADS = [
    "http://weixin.qq.com/q/02Ab3xYz9kLmN10000w03T",
    "https://mashang.example.cn/cp/hospital-1?from=poster&v=2",
    oa_scene("hospital-1"),
    wxa_scene("school-7"),
    "码上商：扫码反映社情民意",
]


def decode(image: Image.Image) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("error_correction", ["M", "Q"])
def test_png_decodes_back(payload: str, error_correction: str) -> None:
    data = qr_png(payload, error_correction=error_correction)  # type: ignore[arg-type]
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        assert decode(image) == [payload]


def test_error_correction_level_is_used() -> None:
    payload = PAYLOADS[1]
    q_result = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(payload, error_correction="Q"))))[0]
    m_result = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(payload, error_correction="M"))))[0]
    assert q_result.ec_level == "Q"
    assert m_result.ec_level == "M"


def test_image_size_follows_box_size_and_border() -> None:
    payload = PAYLOADS[0]
    modules = len(qr_matrix(payload, border=0))
    image = render_qr_image(payload, box_size=7, border=4)
    assert image.mode == "L"
    assert image.size == ((modules + 8) * 7, (modules + 8) * 7)
    assert decode(image) == [payload]
    # The quiet zone is white.
    assert image.crop((0, 0, image.width, 4 * 7)).getextrema() == (255, 255)


def test_svg_is_valid_xml_of_the_same_code() -> None:
    payload = PAYLOADS[1]
    data = qr_svg(payload)
    root = ET.fromstring(data)
    assert root.tag == f"{SVG_NS}svg"
    paths = root.findall(f"{SVG_NS}path")
    assert len(paths) == 1
    # Rebuild the module matrix from the path ("Mx,yH..V..H..z" per dark module) and compare.
    matrix = qr_matrix(payload)
    n = len(matrix)
    assert root.get("viewBox") == f"0 0 {n} {n}"
    dark = {(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)H", paths[0].get("d", ""))}
    expected = {(x, y) for y, row in enumerate(matrix) for x, cell in enumerate(row) if cell}
    assert dark == expected
    # And the rebuilt code decodes back.
    pixels = bytes(0 if (x, y) in dark else 255 for y in range(n) for x in range(n))
    rebuilt = Image.frombytes("L", (n, n), pixels).resize((n * 8, n * 8), Image.Resampling.NEAREST)
    assert decode(rebuilt) == [payload]


def test_empty_and_oversized_payloads_are_rejected() -> None:
    with pytest.raises(QRPayloadError):
        qr_png("")
    with pytest.raises(QRPayloadError):
        qr_svg("x" * 5000)
    with pytest.raises(ValueError, match="error correction"):
        qr_png("x", error_correction="H")  # type: ignore[arg-type]
