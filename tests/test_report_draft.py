"""`mashang report draft <专题名> --format docx|pdf`: the draft 社情民意信息 of a topic of QR and hotline
cases, read back (python-docx, pypdf): the title, the figures, representative excerpts with phone numbers,
ID numbers and names masked, every tracking code and hotline number. A topic that does not exist is a
clear Chinese error. Over the real CLI in the test's event loop, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from pathlib import Path

import docx
import pypdf
import pytest

from bot.cli.main import build_parser
from bot.cli.report import run_report
from bot.config import Config, build_config
from handlers.admin.roster import import_roster
from handlers.reports.leads import mark_leads
from models.entities import Case, CaseMessage, CaseSource, Citizen, ContactPoint
from models.timeutil import now
from models.tracking import reserve_codes
from tests.harness import ROSTER
from tests.hotline_files import beijing, order, write_csv, write_mapping
from tests.test_hotline_import import hotline

TOPIC = "医院周边停车难"
PHONES = ("13812345678", "13987654321", "15000001111")
ID_NUMBER = "330102199001011234"


@pytest.fixture
async def config(db: None, database_url: str) -> Config:
    await import_roster(ROSTER)
    return build_config({"database": {"url": database_url}}, environ={})


def parking_rows() -> list[list[str]]:
    """Nine hotline work orders over three weeks about parking at the hospital, with numbers and names."""
    texts = [
        f"医院门口停车太难了，转了半小时找不到车位，我叫张三，电话{PHONES[0]}",
        "医院附近停车位太少，看病的车都停在路边，堵得厉害",
        f"每次去医院都找不到停车位，希望增加停车位，联系人：李四 {PHONES[1]}",
        "医院周边停车难，路边违停很多，交警也不管",
        f"带老人去医院复查，停车场排队一个小时，身份证{ID_NUMBER}",
        "医院停车场太小，车位根本不够用",
        f"医院门口乱停车，救护车都进不去，{PHONES[2]}",
        "医院附近能不能建个立体停车场，停车太难",
        "去医院看病停车难，停车费还贵",
    ]
    start = now() - timedelta(days=20)
    return [
        order(
            f"GD-P{index}", beijing(start + timedelta(days=index * 2)), text, district=("吴兴区", "南浔区")[index % 2]
        )
        for index, text in enumerate(texts)
    ]


async def draft(config: Config, *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["report", "draft", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = await run_report(config, args, out=out, err=err, init_database=False)
    return code, out.getvalue(), err.getvalue()


async def topic_of_cases(config: Config, tmp_path: Path) -> list[Case]:
    code, _, err = await hotline(
        config, write_csv(tmp_path / "h.csv", parking_rows()), "--mapping", write_mapping(tmp_path)
    )
    assert code == 0, err
    cases = await Case.filter(source=CaseSource.HOTLINE).order_by("created_at")
    # Satisfaction of those answered: two return visits recorded.
    await Case.filter(id=cases[0].id).update(satisfaction=1)
    await Case.filter(id=cases[1].id).update(satisfaction=3)
    qr = await qr_case("医院门口的停车位\x0b太少，挂号的车排到马路上\x01", days_ago=10)  # control characters too
    await mark_leads([case.code for case in cases[:-1]] + ["GD-P8", qr.code], TOPIC, "staff:s-li", "MS")
    return list(await Case.all().order_by("created_at").prefetch_related("hotline_order"))


async def qr_case(text: str, days_ago: int) -> Case:
    """A citizen's case from the hospital's QR code, as the intake writes it."""
    point = await ContactPoint.get(key="hz-hospital-1")
    citizen = await Citizen.create(openid="o-draft-qr")
    at = now() - timedelta(days=days_ago)
    code = (await reserve_codes("MS", at, 1))[0]
    case = await Case.create(
        code=code,
        citizen=citizen,
        contact_point=point,
        summary=text[:20],
        created_at=at,
        updated_at=at,
        last_citizen_message_at=at,
    )
    await CaseMessage.create(case=case, direction="in", author="citizen:o-draft-qr", content=text, created_at=at)
    return case


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_content(text: str, cases: list[Case]) -> None:
    body = flat(text)
    assert TOPIC in body
    assert "社情民意信息（草稿）" in body
    assert "群众诉求共10件" in body
    assert "扫码留言1件、12345热线9件" in body
    assert "吴兴区6件、南浔区4件" in body
    assert "涉及联系点：湖州市中心医院1件" in body
    assert "（共3周）" in body or "（共4周）" in body
    assert "已回访并作出评价的2件中，满意1件、基本满意0件、不满意1件，满意率（含基本满意）50%" in body
    for case in cases:
        assert case.code in body
        if case.source == CaseSource.HOTLINE:
            assert case.hotline_order.external_id in body  # type: ignore[attr-defined]
    for phone in PHONES:
        assert phone not in body
    assert ID_NUMBER not in body
    assert "张三" not in body
    assert "李四" not in body
    assert "群众反映摘录" in body
    assert body.count("」（MS") == 5  # five excerpts for ten cases


async def test_a_docx_draft_has_the_title_figures_excerpts_and_every_code(config: Config, tmp_path: Path) -> None:
    cases = await topic_of_cases(config, tmp_path)
    code, out, err = await draft(config, TOPIC, "--format", "docx", "--out", str(tmp_path / "out"))
    assert code == 0, err
    path = Path(out.strip().removeprefix("已生成："))
    assert path.parent == tmp_path / "out"
    assert path.name.startswith(f"社情民意信息-{TOPIC}-")
    assert path.suffix == ".docx"
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    check_content("\n".join(parts), cases)
    assert document.tables[0].rows[0].cells[1].text == "编号"
    assert len(document.tables[0].rows) == len(cases) + 1
    assert document.inline_shapes  # the chart
    assert document.core_properties.title == TOPIC


async def test_a_pdf_draft_embeds_its_chinese_font_and_reads_back(config: Config, tmp_path: Path) -> None:
    cases = await topic_of_cases(config, tmp_path)
    code, out, err = await draft(config, TOPIC, "--format", "pdf", "--out", str(tmp_path))
    assert code == 0, err
    path = Path(out.strip().removeprefix("已生成："))
    assert path.suffix == ".pdf"
    reader = pypdf.PdfReader(str(path))
    text = "\n".join(page.extract_text() for page in reader.pages)
    check_content(text, cases)
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font.get("/FontDescriptor")
            if descriptor is None and "/DescendantFonts" in font:
                descriptor = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            if descriptor is not None:
                descriptor = descriptor.get_object()
                fonts.add(("/FontFile2" in descriptor, str(font["/BaseFont"])))
    assert fonts
    assert all(embedded for embedded, _ in fonts), fonts  # every font embedded: no viewer pack needed


async def test_a_topic_that_does_not_exist_is_a_clear_error(config: Config, tmp_path: Path) -> None:
    code, out, err = await draft(config, "没有这个专题", "--format", "pdf", "--out", str(tmp_path))
    assert code == 2
    assert out == ""
    assert "错误：没有名为「没有这个专题」的专题" in err
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".pdf")]
    await topic_of_cases(config, tmp_path)
    code, _, err = await draft(config, "停车", "--out", str(tmp_path))
    assert code == 2
    assert f"现有专题：{TOPIC}" in err


def test_the_format_is_docx_or_pdf(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["report", "draft", TOPIC, "--format", "xlsx"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_names_introduced_as_such_are_masked_and_honorifics_kept() -> None:
    from handlers.cases.masking import mask_personal

    assert mask_personal("我叫张三，电话13812345678") == "我叫张某，电话138****5678"
    assert mask_personal("联系人：李四丰来电") == "联系人：李某某来电"
    assert mask_personal("市民张伟来电反映") == "市民张某来电反映"
    assert mask_personal("我叫欧阳修") == "我叫欧阳某"
    assert mask_personal("我叫王小明，电话") == "我叫王某某，电话"
    assert mask_personal("来电人王女士反映停车难") == "来电人王女士反映停车难"  # names nobody
    assert mask_personal("市民反映医院停车难") == "市民反映医院停车难"


def test_control_characters_and_markup_in_texts_do_not_break_either_file() -> None:
    from handlers.reports import documents
    from handlers.reports.leads import Excerpt, LeadCase, figures_of
    from handlers.texts.reports import draft_text

    at = now()
    case = LeadCase(1, "MS26120300010", "qr", None, "吴兴区", "<b>医院</b> & 门诊", at, "received", None)
    hostile = "停车\x01难\x0b<font name='x'>&amp; 电话13812345678\ud800"
    text = draft_text(figures_of("停车<难>", [case]), [Excerpt(case.code, None, "吴兴区", None, at, hostile)], at)
    chart = documents.chart_png(text.chart_labels, text.chart_counts)
    word = docx.Document(io.BytesIO(documents.render_docx(text, chart)))
    written = "\n".join(p.text for p in word.paragraphs)
    assert "停车难" in written
    assert "<font name='x'>&amp;" in written  # as written, not read as markup
    reader = pypdf.PdfReader(io.BytesIO(documents.render_pdf(text, chart)))
    extracted = flat("".join(page.extract_text() for page in reader.pages))
    assert "停车<难>" in extracted
    assert "<b>医院</b>&门诊" in extracted
    assert "停车难<fontname='x'>&amp;" in extracted


def test_representatives_are_typical_and_not_one_text_repeated() -> None:
    from handlers.reports.similarity import SEGMENTER, representatives, vectorize

    texts = [
        "医院门口停车难，找不到停车位",
        "医院门口停车难，找不到停车位",
        "医院门口停车难，找不到停车位",
        "医院附近停车位太少，停车太难",
        "医院停车场排队很久，停车难",
        "小区里的路灯坏了好几天",
    ]
    SEGMENTER.load()
    chosen = representatives(vectorize(SEGMENTER.many(texts)), 3)
    assert len(chosen) == 3
    assert len({texts[row] for row in chosen}) == 3  # the repeated text once
    assert 5 not in chosen  # the street light is not typical of a parking topic
    assert representatives(vectorize(SEGMENTER.many(texts[:2])), 3) == [0, 1]  # too few: the duplicates too
