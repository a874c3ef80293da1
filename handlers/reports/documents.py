"""The draft 社情民意信息 laid out as a file: DOCX (python-docx) or PDF (reportlab), with a small chart of
cases per week. Every sentence comes from handlers/texts/reports.py (`DraftText`); this module only lays
them out. Everything here is blocking (PIL, python-docx, reportlab, fontTools): callers run it in a
worker thread (handlers/reports/draft.py).

- **Chart**: a PNG drawn with PIL (already a dependency, for posters) at twice the printed size: a dozen
  bars need no plotting library, and matplotlib would add tens of megabytes and a second of import time.
- **DOCX**: body 宋体 (SimSun), headings 黑体 (SimHei), set as East Asian fonts, which Word and WPS both have;
  the chart as an inline picture, the appendix as a grid table.
- **PDF**: the Chinese text is embedded as a font subset. The font is the posters' (qr/fonts.py: Noto Sans
  CJK from the `noto-cjk-sans-otc` wheel, SIL Open Font License 1.1, which allows embedding it in
  documents). reportlab embeds only TrueType outlines and Noto Sans CJK has CFF (PostScript) outlines,
  so fontTools first cuts the font down to the characters of this document and converts that subset's
  outlines to TrueType quadratic curves (cu2qu): about 0.4 s, a font of some 10 to 100 KB in the PDF.
  Not the Adobe CID fonts reportlab also knows: those are not embedded and need a viewer's language pack.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import re
import threading
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from PIL import Image, ImageDraw

from handlers.texts.reports import DraftText
from qr.fonts import find_cjk_font, load_font

CHART_SIZE = (1200, 440)  # pixels: 16 × 5.9 cm at about 190 dpi
DOCX_BODY_FONT = "宋体"
DOCX_HEADING_FONT = "黑体"

_ASCII = "".join(chr(code) for code in range(32, 127))
_pdf_fonts: dict[str, str] = {}  # characters' digest -> the registered reportlab font name
_pdf_fonts_lock = threading.Lock()


# Characters XML 1.0 cannot carry (DOCX is XML; reportlab's paragraphs are parsed as XML too): control
# characters a citizen's or a hotline file's text may hold. Dropped; tabs and line breaks become spaces.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(value: str) -> str:
    return _NOT_XML.sub("", value.replace("\t", " "))


def _cleaned(text: DraftText) -> DraftText:
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(text):
        value = getattr(text, item.name)
        if isinstance(value, str):
            changes[item.name] = xml_safe(value)
        elif isinstance(value, list) and value and isinstance(value[0], str):
            changes[item.name] = [xml_safe(v) for v in value]
        elif isinstance(value, list) and value and isinstance(value[0], list):
            changes[item.name] = [[xml_safe(v) for v in row] for row in value]
    return dataclasses.replace(text, **changes)


# ---- chart --------------------------------------------------------------------------------------------


def chart_png(labels: list[str], counts: list[int], font_path: str | None = None) -> bytes:
    """Bars of cases per week, each with its count above and its week (M/D) below."""
    width, height = CHART_SIZE
    image = Image.new("RGB", CHART_SIZE, "white")
    draw = ImageDraw.Draw(image)
    path = font_path or find_cjk_font()
    font = load_font(path, 26)
    left, right, top, bottom = 60, 30, 50, 70
    draw.line([(left, height - bottom), (width - right, height - bottom)], fill="#444444", width=2)
    peak = max(counts, default=0) or 1
    slots = max(len(counts), 1)
    slot = (width - left - right) / slots
    bar = max(4.0, min(slot * 0.6, 90.0))
    every = max(1, round(slots / 16))  # at most about 16 week labels
    for index, count in enumerate(counts):
        centre = left + slot * (index + 0.5)
        bar_top = height - bottom - (height - top - bottom) * count / peak
        if count:
            draw.rectangle([centre - bar / 2, bar_top, centre + bar / 2, height - bottom], fill="#c0392b")
            draw.text((centre, bar_top - 6), str(count), fill="#222222", font=font, anchor="mb")
        if index % every == 0:
            draw.text((centre, height - bottom + 12), labels[index], fill="#222222", font=font, anchor="mt")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


# ---- DOCX ---------------------------------------------------------------------------------------------


def _east_asian(style_or_run: Any, name: str) -> None:
    from docx.oxml.ns import qn

    style_or_run.font.name = name
    element = style_or_run.element
    properties = element.get_or_add_rPr()
    fonts = properties.find(qn("w:rFonts"))
    if fonts is None:
        fonts = properties.makeelement(qn("w:rFonts"), {})
        properties.append(fonts)
    fonts.set(qn("w:eastAsia"), name)


def render_docx(text: DraftText, chart: bytes) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    text = _cleaned(text)
    document = Document()
    normal = document.styles["Normal"]
    _east_asian(normal, DOCX_BODY_FONT)
    normal.font.size = Pt(12)
    for name in ("Title", "Heading 1", "Heading 2"):
        _east_asian(document.styles[name], DOCX_HEADING_FONT)
    document.core_properties.title = text.title
    document.core_properties.subject = text.kind

    kind = document.add_paragraph(text.kind)
    kind.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title = document.add_heading(text.title, level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    dateline = document.add_paragraph(text.dateline)
    dateline.alignment = WD_ALIGN_PARAGRAPH.CENTER

    document.add_heading(text.summary_heading, level=1)
    document.add_paragraph(text.summary)
    document.add_picture(io.BytesIO(chart), width=Cm(15))
    caption = document.add_paragraph(text.chart_caption)
    caption.alignment = WD_ALIGN_PARAGRAPH.CENTER

    document.add_heading(text.excerpts_heading, level=1)
    document.add_paragraph(text.excerpts_note)
    for number, line in enumerate(text.excerpts, start=1):
        document.add_paragraph(f"{number}. {line}")

    document.add_heading(text.suggestions_heading, level=1)
    document.add_paragraph(text.suggestions)

    document.add_heading(text.appendix_heading, level=1)
    columns = len(text.appendix_columns)
    table = document.add_table(rows=len(text.appendix_rows) + 1, cols=columns)
    table.style = "Table Grid"
    # Made at its full size and filled through one list of its cells: add_row and row.cells cost a walk
    # of the table each, which makes a table of thousands of rows take minutes.
    cells = table._cells
    for index, value in enumerate(itertools.chain(text.appendix_columns, *text.appendix_rows)):
        cells[index].text = value
    document.add_paragraph(text.footnote)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ---- PDF ----------------------------------------------------------------------------------------------


def _face_number(path: str) -> int:
    """For a collection (.ttc/.otc), the index of its Simplified Chinese face (…" SC"), else -1."""
    from fontTools.ttLib import TTCollection

    if not path.lower().endswith((".ttc", ".otc")):
        return -1
    collection = TTCollection(path, lazy=True)
    for index, face in enumerate(collection.fonts):
        family = face["name"].getDebugName(1) or ""
        if family.endswith(" SC") and "Mono" not in family:
            return index
    return 0


def truetype_subset(path: str, characters: str, postscript_name: str) -> bytes:
    """A TrueType-outline font with only `characters` (and .notdef) of the font at `path`, named
    `postscript_name`: reportlab keeps one face per PostScript name for the whole process, so two subsets
    of one font under the font's own name would share the first one's glyphs."""
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    font = TTFont(path, fontNumber=_face_number(path), lazy=True)  # reads only the tables the subset needs
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = []
    options.hinting = False
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    if "CFF " in font:
        order = font.getGlyphOrder()
        glyphs = font.getGlyphSet()
        glyf = newTable("glyf")
        glyf.glyphOrder = order
        glyf.glyphs = {}
        for name in order:
            pen = TTGlyphPen(glyphs)
            glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))  # cubic → quadratic, 1 unit error
            glyf[name] = pen.glyph()
        font["glyf"] = glyf
        font["loca"] = newTable("loca")
        del font["CFF "]
        if "VORG" in font:
            del font["VORG"]
        maxp = font["maxp"]
        maxp.tableVersion = 0x00010000
        for field in (
            "maxTwilightPoints",
            "maxStorage",
            "maxFunctionDefs",
            "maxInstructionDefs",
            "maxStackElements",
            "maxSizeOfInstructions",
            "maxComponentElements",
        ):
            setattr(maxp, field, 0)
        maxp.maxZones = 1
        font["head"].indexToLocFormat = 0
        font["head"].glyphDataFormat = 0
        font["post"].formatType = 3.0
        font.sfntVersion = "\x00\x01\x00\x00"
    for record in font["name"].names:
        if record.nameID in (4, 6):  # full name, PostScript name
            record.string = postscript_name
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def pdf_font(characters: str, font_path: str | None = None) -> str:
    """The reportlab name of a font registered for exactly these characters (made once per set)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path = font_path or find_cjk_font()
    wanted = "".join(sorted(set(characters) | set(_ASCII)))  # and what the layout adds: "1. ", digits
    digest = hashlib.sha1(f"{path}\n{wanted}".encode()).hexdigest()[:16]
    with _pdf_fonts_lock:
        name = _pdf_fonts.get(digest)
        if name is None:
            name = f"MashangCJK-{digest}"
            pdfmetrics.registerFont(TTFont(name, io.BytesIO(truetype_subset(path, wanted, name))))
            if len(_pdf_fonts) > 64:  # a long-running service: forget old ones (reportlab keeps them)
                _pdf_fonts.clear()
            _pdf_fonts[digest] = name
    return name


def render_pdf(text: DraftText, chart: bytes, font_path: str | None = None) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import Image as PdfImage
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from reportlab.platypus.tables import LongTable

    text = _cleaned(text)
    font = pdf_font(text.all_text(), font_path)
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=18, wordWrap="CJK", firstLineIndent=22)
    plain = ParagraphStyle("plain", parent=body, firstLineIndent=0)
    centred = ParagraphStyle("centred", parent=plain, alignment=TA_CENTER)
    title = ParagraphStyle("title", parent=centred, fontSize=20, leading=30, spaceBefore=6, spaceAfter=6)
    heading = ParagraphStyle("heading", parent=plain, fontSize=14, leading=22, spaceBefore=10, spaceAfter=4)
    cell = ParagraphStyle("cell", parent=plain, fontSize=9, leading=12)

    def para(value: str, style: ParagraphStyle) -> Paragraph:
        return Paragraph(xml_escape(value), style)  # reportlab reads its own markup: strangers' text escaped

    width = A4[0] - 4 * cm
    story: list[Any] = [
        para(text.kind, centred),
        para(text.title, title),
        para(text.dateline, centred),
        para(text.summary_heading, heading),
        para(text.summary, body),
        Spacer(1, 6),
        PdfImage(io.BytesIO(chart), width=width, height=width * CHART_SIZE[1] / CHART_SIZE[0]),
        para(text.chart_caption, centred),
        para(text.excerpts_heading, heading),
        para(text.excerpts_note, body),
        *(para(f"{number}. {line}", body) for number, line in enumerate(text.excerpts, start=1)),
        para(text.suggestions_heading, heading),
        para(text.suggestions, body),
        para(text.appendix_heading, heading),
    ]
    widths = [x * width for x in (0.07, 0.22, 0.18, 0.14, 0.26, 0.13)]
    # Plain strings where they fit on one line (a Paragraph per cell makes thousands of rows slow to lay
    # out), a wrapping Paragraph where they do not.
    fits = [int(column / (cell.fontSize * 1.05)) for column in widths]  # CJK characters a column holds
    rows = [
        [value if len(value) <= fits[index] else para(value, cell) for index, value in enumerate(row)]
        for row in [text.appendix_columns, *text.appendix_rows]
    ]
    table: Table = LongTable(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, cell.fontSize, cell.leading),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [table, Spacer(1, 8), para(text.footnote, plain)]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
        title=text.title,
        subject=text.kind,
        author="码上商",
    )
    document.build(story)
    return buffer.getvalue()
