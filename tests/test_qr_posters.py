"""Posters: each one decodes back to its payload (the rendered image itself is decoded), A4 and A5,
PNG and PDF; long texts never overflow; a missing CJK font fails with a one-line install hint;
rendering runs off the event loop; the batch helpers write every poster."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import io
import os
import re
import shutil
import threading
import zipfile
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageFont

import qr.posters
from qr.batch import render_posters_to_dir, render_posters_zip
from qr.codes import qr_png
from qr.fonts import FontMissingError, find_cjk_font, has_cjk_glyphs
from qr.posters import (
    DEFAULT_HEADLINE,
    PAGE_SIZES,
    PosterSpec,
    poster_bytes,
    poster_bytes_async,
    render_poster,
    render_poster_async,
    render_poster_indexed,
)
from qr.scenes import wxa_scene

PAYLOAD = "http://weixin.qq.com/q/02Ab3xYz9kLmN10000w03T"
A4_POINTS = (595.2, 841.92)  # 2480 x 3508 px at 300 dpi, in PDF points (1/72 in)
A5_POINTS = (419.52, 595.2)


@pytest.fixture(scope="module")
def font() -> str:
    # No skip: CI must have a CJK font (the noto-cjk-sans-otc dev extra ships one).
    return find_cjk_font()


def spec(**changes: object) -> PosterSpec:
    base = PosterSpec(
        committee_name="中国人民政治协商会议杭州市上城区委员会",
        contact_point_name="上城区人民医院（湖滨院区）",
        contact_point_key="hospital-hubin",
        payload=PAYLOAD,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def decode(image: Image.Image) -> list[str]:
    if image.mode not in ("L", "RGB"):
        image = image.convert("L")
    return [result.text for result in zxingcpp.read_barcodes(image)]


def pdf_page_points(pdf: bytes) -> tuple[float, float]:
    match = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert match, "no MediaBox in the PDF"
    return float(match.group(1)), float(match.group(2))


def pdf_page_image(pdf: bytes) -> Image.Image:
    """The page raster Pillow embedded (a JPEG stream): what a printer would print."""
    start = pdf.index(b"\xff\xd8\xff")
    end = pdf.rindex(b"\xff\xd9") + 2
    return Image.open(io.BytesIO(pdf[start:end]))


def test_font_has_chinese_glyphs(font: str) -> None:
    assert has_cjk_glyphs(font)


@pytest.mark.parametrize("size", ["a4", "a5"])
def test_png_poster_decodes_back(font: str, size: str) -> None:
    data = poster_bytes(spec(size=size), "png", font)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == PAGE_SIZES[size]
        assert tuple(round(d) for d in image.info["dpi"]) == (300, 300)
        assert decode(image) == [PAYLOAD]


@pytest.mark.parametrize(("size", "points"), [("a4", A4_POINTS), ("a5", A5_POINTS)])
def test_pdf_poster_has_the_page_size_and_decodes_back(font: str, size: str, points: tuple[float, float]) -> None:
    data = poster_bytes(spec(size=size), "pdf", font)
    assert data.startswith(b"%PDF")
    assert data.rstrip().endswith(b"%%EOF")
    width, height = pdf_page_points(data)
    assert width == pytest.approx(points[0], abs=0.5)
    assert height == pytest.approx(points[1], abs=0.5)
    page = pdf_page_image(data)
    assert page.size == PAGE_SIZES[size]
    assert decode(page) == [PAYLOAD]


def test_render_poster_returns_rgb_that_decodes(font: str) -> None:
    image = render_poster(spec(), font)
    assert image.mode == "RGB"
    assert image.size == PAGE_SIZES["a4"]
    assert decode(image) == [PAYLOAD]
    # The red band and the red headline are really red.
    assert image.getpixel((20, 20)) == qr.posters.RED_RGB


def test_code_png_is_placed_on_the_poster(font: str) -> None:
    # Stands in for the mini-program code PNG that getwxacodeunlimit returns.
    scene = wxa_scene("school-7")
    poster = render_poster_indexed(spec(payload=None, code_png=qr_png(scene, box_size=4), size="a5"), font)
    assert decode(poster) == [scene]


def test_transparent_code_png_is_flattened_on_white(font: str) -> None:
    scene = wxa_scene("school-8")
    code = Image.open(io.BytesIO(qr_png(scene, box_size=6))).convert("L")
    rgba = Image.new("RGBA", code.size, (0, 0, 0, 0))  # a transparent background (is_hyaline)
    rgba.putalpha(code.point(lambda v: 255 - v))
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    poster = render_poster_indexed(spec(payload=None, code_png=buffer.getvalue()), font)
    assert decode(poster) == [scene]


@pytest.mark.parametrize("size", ["a4", "a5"])
def test_long_texts_shrink_and_wrap_without_overflowing(font: str, size: str) -> None:
    long = spec(
        size=size,
        committee_name="中国人民政治协商会议内蒙古自治区呼伦贝尔市鄂温克族自治旗委员会" * 2,
        contact_point_name="鄂温克族自治旗巴彦托海镇第二中心小学附属幼儿园家长学校联系点（暨社区矛盾纠纷调解站）" * 3,
        headline="扫码反映社情民意，共商家乡发展大计，委员就在您身边" * 3,
        instructions=["https://mashang.example.cn/a/very/long/url/without/any/spaces/" * 3, "说明" * 80],
        contact_point_key="k" * 40,
    )
    poster = render_poster(long, font)
    assert decode(poster) == [PAYLOAD]
    width, height = poster.size
    margin = round(170 * width / 2480)
    # Nothing is drawn in the side margins below the red band, nor in the last millimetres.
    band_bottom = round(700 * width / 2480)
    left = poster.crop((0, band_bottom, margin // 2, height))
    right = poster.crop((width - margin // 2, band_bottom, width, height))
    bottom = poster.crop((0, height - round(40 * width / 2480), width, height))
    for strip in (left, right, bottom):
        assert strip.getextrema() == ((255, 255),) * 3, "text overflowed into the margin"


def test_headline_is_configurable_and_instructions_may_be_empty(font: str) -> None:
    assert spec().headline == DEFAULT_HEADLINE
    poster = render_poster_indexed(spec(headline="扫码找委员", instructions=""), font)
    assert decode(poster) == [PAYLOAD]


def test_spec_needs_exactly_one_code() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        spec(payload=None)
    with pytest.raises(ValueError, match="exactly one"):
        spec(code_png=b"\x89PNG")
    with pytest.raises(ValueError, match="size"):
        spec(size="a3")


def test_unknown_format_is_rejected(font: str) -> None:
    with pytest.raises(ValueError, match="png or pdf"):
        poster_bytes(spec(), "jpg", font)  # type: ignore[arg-type]


# --- the font search ------------------------------------------------------------------------------


def assert_one_line_install_hint(error: FontMissingError) -> None:
    message = str(error)
    assert "\n" not in message
    assert "未找到中文字体" in message
    assert "apt-get install fonts-noto-cjk" in message


def test_missing_font_raises_with_a_one_line_install_hint(tmp_path: Path) -> None:
    (tmp_path / "fonts").mkdir()
    with pytest.raises(FontMissingError) as caught:
        find_cjk_font(search_dirs=[tmp_path / "fonts", tmp_path / "does-not-exist"])
    assert_one_line_install_hint(caught.value)


@pytest.fixture
def system_fonts_named_like_cjk(
    font: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fonts installed under the names of wqy-zenhei and Noto Sans CJK in the folders where Pillow's
    ImageFont.truetype looks up a file by its name when the given path does not load: the tests
    below behave the same whether or not fonts-wqy-zenhei or fonts-noto-cjk is installed."""
    installed = tmp_path_factory.mktemp("xdg") / "fonts"  # outside tmp_path, which tests search
    installed.mkdir()
    for name in ("wqy-zenhei.ttc", "NotoSansCJK-Regular.ttc"):
        (installed / name).symlink_to(font)
    monkeypatch.setenv("XDG_DATA_HOME", str(installed.parent))


def assert_refused(explicit: Path | str, reason: str) -> None:
    """The configured font is refused, not replaced: a one-line error naming the file and why."""
    with pytest.raises(FontMissingError) as caught:
        find_cjk_font(str(explicit))
    message = str(caught.value)
    assert "\n" not in message
    assert f"中文字体不可用：poster.font_path {explicit}：{reason}" in message
    with pytest.raises(FontMissingError):
        render_poster(spec(), str(explicit))


def test_a_missing_or_odd_explicit_font_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "NotoSansCJK-Regular.ttc"
    assert_refused(missing, "文件不存在")
    folder = tmp_path / "wqy-zenhei.ttc"
    folder.mkdir()
    assert_refused(folder, "不是普通文件")


@pytest.mark.usefixtures("system_fonts_named_like_cjk")
@pytest.mark.parametrize("name", ["wqy-zenhei.ttc", "NotoSansCJK-Regular.ttc"])
def test_a_broken_file_named_like_a_system_font_is_refused(tmp_path: Path, name: str) -> None:
    broken = tmp_path / "config" / name
    broken.parent.mkdir()
    broken.write_bytes(b"not a font")
    # The trap: Pillow's lookup by name loads the installed font of that name instead of this file.
    assert ImageFont.truetype(str(broken), 16).getname()[0] != ""
    assert not has_cjk_glyphs(str(broken))
    assert_refused(broken, "不是字体文件（")


def test_a_latin_only_font_is_refused(tmp_path: Path) -> None:
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not dejavu.is_file():
        pytest.skip(f"no Latin-only font to try: {dejavu} is missing (apt-get install fonts-dejavu-core)")
    assert_refused(dejavu, "没有中文字形（")
    disguised = tmp_path / "NotoSansCJK-Regular.ttf"
    shutil.copy(dejavu, disguised)
    assert_refused(disguised, "没有中文字形（")


def test_the_bundled_noto_font_is_accepted(tmp_path: Path) -> None:
    spec_ = importlib.util.find_spec("noto_cjk_sans_otc")
    assert spec_ is not None, "noto-cjk-sans-otc is a dependency"
    assert spec_.submodule_search_locations
    (bundled,) = (Path(folder) / "NotoSansCJK-Regular.ttc" for folder in spec_.submodule_search_locations)
    assert find_cjk_font(str(bundled), search_dirs=[tmp_path]) == str(bundled)
    assert decode(render_poster(spec(), str(bundled))) == [PAYLOAD]


@pytest.mark.usefixtures("system_fonts_named_like_cjk")
def test_fonts_without_chinese_glyphs_do_not_count(tmp_path: Path) -> None:
    # A CJK-sounding file name is not enough: a broken file, and a Latin-only font under a CJK name.
    (tmp_path / "wqy-zenhei.ttc").write_bytes(b"not a font")
    for candidate in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if os.path.exists(candidate):
            shutil.copy(candidate, tmp_path / "NotoSansCJK-Regular.ttf")
            assert not has_cjk_glyphs(candidate)
    with pytest.raises(FontMissingError):
        find_cjk_font(search_dirs=[tmp_path])


def test_search_dirs_find_a_cjk_font(font: str, tmp_path: Path) -> None:
    nested = tmp_path / "truetype" / "noto"
    nested.mkdir(parents=True)
    target = nested / ("NotoSansCJK-Regular" + Path(font).suffix)
    target.symlink_to(font)
    assert find_cjk_font(search_dirs=[tmp_path]) == str(target)
    # An explicit path that exists wins over any search.
    assert find_cjk_font(font, search_dirs=[tmp_path / "empty"]) == font


# --- off the event loop ---------------------------------------------------------------------------


async def test_async_render_runs_in_another_thread(font: str, monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    render_threads: list[int] = []
    real_render = qr.posters.render_poster

    def recording_render(poster: PosterSpec, font_path: str | None = None) -> Image.Image:
        render_threads.append(threading.get_ident())
        return real_render(poster, font_path)

    monkeypatch.setattr(qr.posters, "render_poster", recording_render)

    ticks = 0
    rendering = True

    async def ticker() -> None:
        nonlocal ticks
        while rendering:
            ticks += 1
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    image = await render_poster_async(spec(), font)
    rendering = False
    await ticking
    assert render_threads == [render_threads[0]]
    assert render_threads[0] != loop_thread
    assert ticks > 1, "the event loop was blocked while the poster rendered"
    assert decode(image) == [PAYLOAD]


async def test_async_bytes_run_in_another_thread(font: str, monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real = qr.posters.poster_bytes

    def recording(poster: PosterSpec, fmt: str = "png", font_path: str | None = None) -> bytes:
        seen.append(threading.get_ident())
        return real(poster, fmt, font_path)  # type: ignore[arg-type]

    monkeypatch.setattr(qr.posters, "poster_bytes", recording)
    data = await poster_bytes_async(spec(size="a5"), "pdf", font)
    assert data.startswith(b"%PDF")
    assert len(seen) == 1
    assert seen[0] != loop_thread


# --- batches --------------------------------------------------------------------------------------


def batch_specs() -> list[PosterSpec]:
    return [
        spec(contact_point_key=f"cp-{i}", contact_point_name=f"第{i}联系点", payload=f"{PAYLOAD}{i}", size="a5")
        for i in range(3)
    ]


@pytest.mark.parametrize(("workers", "kind"), [(1, "process"), (2, "thread"), (2, "process")])
def test_zip_of_posters(font: str, tmp_path: Path, workers: int, kind: str) -> None:
    calls: list[tuple[int, int]] = []
    out = render_posters_zip(
        batch_specs(),
        "png",
        font,
        tmp_path / "out" / "posters.zip",
        lambda d, t: calls.append((d, t)),
        workers,
        kind,  # type: ignore[arg-type]
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["cp-0.png", "cp-1.png", "cp-2.png"]
        for i, name in enumerate(archive.namelist()):
            with Image.open(io.BytesIO(archive.read(name))) as image:
                assert decode(image) == [f"{PAYLOAD}{i}"]
    assert not list(out.parent.glob("*.partial"))


def test_posters_to_dir_with_duplicate_keys(font: str, tmp_path: Path) -> None:
    specs = [*batch_specs(), spec(contact_point_key="cp-0", size="a5")]
    paths = render_posters_to_dir(specs, "pdf", font, tmp_path / "posters", workers=1)
    assert [p.name for p in paths] == ["cp-0.pdf", "cp-1.pdf", "cp-2.pdf", "cp-0-2.pdf"]
    for path in paths:
        assert path.read_bytes().startswith(b"%PDF")


def test_batch_fails_early_without_a_font(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_font(explicit: str | None = None, **_: object) -> str:
        raise FontMissingError("未找到中文字体：请安装 apt-get install fonts-noto-cjk")

    monkeypatch.setattr("qr.batch.find_cjk_font", no_font)
    with pytest.raises(FontMissingError):
        render_posters_zip(batch_specs(), "png", None, tmp_path / "p.zip", workers=2)
    assert not (tmp_path / "p.zip").exists()
