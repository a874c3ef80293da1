"""Similar cases (一件事 → 一类事): the grouping measured against the hand-labelled set
(tests/data/similar_cases.csv), the terms and their storage, `类似 <编号>` in the triage group and
`mashang report similar` over the real entry points (SQLite, and PostgreSQL with its env)."""

from __future__ import annotations

import csv
import io
import itertools
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.cli.main import build_parser
from bot.cli.report import run_report
from bot.config import Config, build_config
from handlers.admin.roster import import_roster
from handlers.reports import similar, similarity
from handlers.reports.similarity import (
    SEGMENTER,
    Segmenter,
    group_rows,
    medoids,
    pairwise_scores,
    vectorize,
)
from models.entities import Case, CaseEvent
from models.similar import CaseTerms
from models.timeutil import now
from tests.harness import ROSTER, Stack
from tests.hotline_files import beijing, order, write_csv, write_mapping
from tests.test_hotline_import import hotline, say
from tests.test_markdown_injection import INJECTION, assert_formed_no_markup
from tests.test_triage_and_members import new_case

LABELLED = Path(__file__).resolve().parent / "data" / "similar_cases.csv"
THRESHOLD = Config().similar.threshold
# Floors a few points under what the grouping measures today at the configured threshold (precision 0.579,
# recall 0.464; docs/similar.md): a change of stop words, synonyms or algorithm that loses more than that
# fails here. For scale: grouping at random with the same group sizes gives a precision of about 1/34.
PRECISION_FLOOR = 0.55
RECALL_FLOOR = 0.43


def labelled() -> list[dict[str, str]]:
    with LABELLED.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_labelled_set_is_what_the_docs_say() -> None:
    rows = labelled()
    assert len(rows) >= 300
    groups = {row["group"] for row in rows}
    assert 25 <= len(groups) <= 40
    assert len({row["text"] for row in rows}) == len(rows)  # no text twice
    assert {row["source"] for row in rows} == {"qr", "hotline"}
    # Hard negatives: one place, several problems.
    assert len({row["group"] for row in rows if "幸福里小区" in row["text"]}) >= 8


def test_grouping_precision_and_recall_on_the_labelled_set() -> None:
    rows = labelled()
    SEGMENTER.load()
    vectors = vectorize(SEGMENTER.many(row["text"] for row in rows))
    labels = group_rows(vectors, THRESHOLD)
    precision, recall, *_ = pairwise_scores([row["group"] for row in rows], labels.tolist())
    assert precision >= PRECISION_FLOOR, precision
    assert recall >= RECALL_FLOOR, recall
    # A stricter threshold joins fewer pairs: recall falls.
    stricter = group_rows(vectors, THRESHOLD + 0.15)
    assert pairwise_scores([row["group"] for row in rows], stricter.tolist())[1] < recall


def test_pairwise_scores_count_pairs() -> None:
    # truth: a a a b ; predicted: {0,1} {2,3} -> together 2 pairs, 1 right; same label 3 pairs
    precision, recall, together, right, same = pairwise_scores(["a", "a", "a", "b"], [0, 0, 1, 1])
    assert (together, right, same) == (2, 1, 3)
    assert (precision, recall) == (0.5, pytest.approx(1 / 3))


def test_terms_leave_out_boilerplate_places_and_numbers() -> None:
    terms = SEGMENTER.terms("您好，我想反映一下，希望相关部门尽快处理，谢谢！")
    assert terms == []
    terms = SEGMENTER.terms("市民来电反映：吴兴区解放路3号路灯不亮，电话13812345678")
    assert "吴兴区" not in terms
    assert "解放路" not in terms
    assert "路" in terms  # the road's kind stays
    assert not any(char.isdigit() for term in terms for char in term)
    assert any("灯" in term for term in terms)  # the problem stays
    # One spelling for words that mean the same.
    assert "噪音" in SEGMENTER.terms("工地噪声太大")


def test_jieba_is_loaded_once_and_in_the_thread_asked_to() -> None:
    segmenter = Segmenter()
    assert not segmenter.loaded
    threads = []

    def load() -> None:
        segmenter.load()
        threads.append(threading.current_thread().name)

    worker = threading.Thread(target=load, name="loader")
    worker.start()
    worker.join()
    assert segmenter.loaded
    assert segmenter.loaded_in == "loader"
    segmenter.load()  # a second call does nothing
    assert segmenter.loaded_in == "loader"
    assert threads == ["loader"]


def test_the_medoid_has_the_largest_summed_similarity() -> None:
    rows = labelled()[:60]
    vectors = vectorize(SEGMENTER.many(row["text"] for row in rows))
    labels = group_rows(vectors, THRESHOLD)
    dense = (vectors.matrix @ vectors.matrix.T).toarray()
    for label, row in medoids(vectors, labels).items():
        members = np.flatnonzero(labels == label)
        sums = dense[np.ix_(members, members)].sum(axis=1)
        assert sums[list(members).index(row)] == pytest.approx(sums.max(), abs=1e-5)


def test_small_batches_still_group_alike_texts() -> None:
    rows = [row for row in labelled() if row["group"] in {"street_lights", "water_leak", "square_dance"}]
    vectors = vectorize(SEGMENTER.many(row["text"] for row in rows))
    labels = group_rows(vectors, THRESHOLD, batch_size=4)
    precision, recall, *_ = pairwise_scores([row["group"] for row in rows], labels.tolist())
    assert precision >= 0.8
    assert recall >= 0.2


# ---- over the database: the CLI and the chat --------------------------------------------------------------


@pytest.fixture
async def config(db: None, database_url: str) -> Config:
    await import_roster(ROSTER)
    return build_config({"database": {"url": database_url}}, environ={})


GROUPS = ("water_leak", "square_dance", "street_lights")


def hotline_rows(groups: tuple[str, ...] = GROUPS, days_ago: int = 3) -> list[list[str]]:
    received = beijing(now() - timedelta(days=days_ago))
    chosen = [row for row in labelled() if row["group"] in groups]
    return [order(f"S-{index}", received, row["text"], row["district"], "交通出行") for index, row in enumerate(chosen)]


async def report(config: Config, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["report", "similar", *argv])
    out = io.StringIO()
    code = await run_report(config, args, out=out, init_database=False)
    return code, out.getvalue()


async def test_the_report_proposes_groups_with_size_districts_and_a_representative(
    config: Config, tmp_path: Path
) -> None:
    rows = hotline_rows()
    old = hotline_rows(("garbage",), days_ago=60)  # before --since: left out
    old = [[f"OLD-{cells[0]}", *cells[1:]] for cells in old]
    export = write_csv(tmp_path / "h.csv", rows + old)
    code, _, err = await hotline(config, export, "--mapping", write_mapping(tmp_path))
    assert code == 0, err
    since = beijing(now() - timedelta(days=10))[:10]
    code, text = await report(config, "--since", since)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("类似诉求分组（")
    assert f"共比较 {len(rows)} 件" in lines[1]
    assert "相似度阈值 0.20，每组不少于 3 件" in lines[1]
    groups = [line for line in lines if line[:1].isdigit()]
    assert groups, text
    by_group = {row["text"]: row["group"] for row in labelled()}
    codes = {case.code: case for case in await Case.all().prefetch_related("messages")}
    for line in groups:
        index = lines.index(line)
        assert "件（12345 热线" in line
        assert "区县：" in line
        representative = lines[index + 1]
        assert representative.startswith("   代表：")
        listed = lines[index + 2].removeprefix("   编号：").split(" 等 ")[0].split("、")
        kinds = {by_group[next(m.content for m in codes[code].messages)] for code in listed}
        # Each proposed group is (mostly) one kind of problem; the garbage cases are too old to count.
        assert "garbage" not in kinds
    sizes = [int(line.split(". ", 1)[1].split(" 件", 1)[0]) for line in groups]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] >= 5
    assert "medoid" in text
    # Stored terms: one row per case compared (the old ones too: --since left them out of the grouping only).
    stored = await CaseTerms.all().count()
    assert stored == len(rows)
    assert await similar.refresh_terms(None, 1000) == len(old)  # the rest
    assert await similar.refresh_terms(None, 1000) == 0  # nothing to do twice
    # A stricter threshold proposes fewer cases in groups.
    code, strict = await report(config, "--since", since, "--threshold", "0.6")
    assert code == 0
    assert "相似度阈值 0.60" in strict
    grouped = int(text.split("涵盖 ")[1].split(" 件")[0])
    assert int(strict.split("涵盖 ")[1].split(" 件")[0]) < grouped


async def test_stored_terms_of_another_version_are_made_again(config: Config, tmp_path: Path) -> None:
    rows = hotline_rows(("water_leak",))
    code, _, err = await hotline(config, write_csv(tmp_path / "h.csv", rows), "--mapping", write_mapping(tmp_path))
    assert code == 0, err
    assert await similar.refresh_terms(None, 1000) == len(rows)
    await CaseTerms.all().update(version="old", terms="x")
    assert await similar.refresh_terms(None, 1000) == len(rows)
    assert await CaseTerms.filter(version="old").count() == 0
    assert "漏水" in (await CaseTerms.first()).terms.split()  # type: ignore[union-attr]


async def test_the_report_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["--threshold", "1.5"], "应在 0 和 1 之间"),
        (["--threshold", "abc"], "不是数"),
        (["--since", "2026-13-01"], "不是 YYYY-MM-DD 格式的日期"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(["report", "similar", *argv])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


async def test_an_empty_database_proposes_no_group(config: Config) -> None:
    code, text = await report(config)
    assert code == 0
    assert "共比较 0 件" in text
    assert "没有不少于 3 件的类似诉求" in text


async def test_similar_in_the_triage_group(stack: Stack, tmp_path: Path) -> None:
    assert stack.config is not None
    rows = hotline_rows()
    code, _, err = await hotline(
        stack.config, write_csv(tmp_path / "h.csv", rows), "--mapping", write_mapping(tmp_path)
    )
    assert code == 0, err
    # A citizen's QR case about a leak, with a phone number and markdown in it.
    case = await new_case(stack, "o-leak", f"楼上卫生间漏水，天花板都泡烂了，物业不管 {INJECTION}")
    events = await CaseEvent.filter(case=case).count()
    answer = await say(stack, "lisi", f"类似 {case.code}")
    lines = answer.splitlines()
    assert lines[0] == f"与 {case.code} 最相似的件"
    listed = [line for line in lines if line[:1].isdigit()]
    assert 1 <= len(listed) <= 10
    leaks = {row["text"] for row in labelled() if row["group"] == "water_leak"}
    hotline_cases = {c.code: c for c in await Case.filter(source="hotline").prefetch_related("messages")}
    top = listed[0].split(". ", 1)[1].split("（", 1)[0]
    assert next(m.content for m in hotline_cases[top].messages) in leaks  # the most similar is a leak
    assert "相似度 0." in listed[0]
    assert "12345 热线" in listed[0]
    scores = [float(line.split("相似度 ")[1][:4]) for line in listed]
    assert scores == sorted(scores, reverse=True)
    assert "同类" in listed[0]
    assert f"在最近的 {len(rows)} 件中比较" in answer
    assert await CaseEvent.filter(case=case).count() == events  # reading only: nothing on the timeline
    assert "类似 <编号>（similar）" in await say(stack, "lisi", "帮助")

    # The hotline case most like it lists the citizen's case, masked and escaped, in the group's markdown.
    await stack.bot().text("lisi", f"类似 {top}", msg_id="similar-1")
    await stack.run_jobs()
    [group_answer] = stack.bot_answers()
    assert case.code in group_answer
    assert_formed_no_markup(group_answer)
    assert "138****5678［点此查看］（http：//evil" in group_answer  # masked, escaped, still readable


async def test_similar_for_a_case_like_no_other(stack: Stack) -> None:
    case = await new_case(stack, "o-alone", "请问社保卡丢了怎么补办")
    answer = await say(stack, "lisi", f"类似 {case.code}")
    assert "在 0 件中没有找到相似度不低于 0.10 的件" in answer
    assert "没有听懂" not in await say(stack, "lisi", "类似")  # usage, not "not understood"
    assert "类似 <编号>" in await say(stack, "lisi", "类似")


def test_grouping_stays_deterministic() -> None:
    rows = labelled()
    vectors = vectorize(SEGMENTER.many(row["text"] for row in rows))
    first = group_rows(vectors, THRESHOLD)
    again = group_rows(vectors, THRESHOLD)
    assert first.tolist() == again.tolist()
    assert all(a <= b + 1 for a, b in itertools.pairwise([0, *sorted(set(first.tolist()))]))


def test_candidates_from_shared_words_group_as_well_as_every_centre(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past EXACT_PRODUCT the grouping scores only the centres sharing the most word weight: on the
    labelled set (where every centre would be scored) forcing that path changes neither figure."""
    rows = labelled()
    truth = [row["group"] for row in rows]
    vectors = vectorize(SEGMENTER.many(row["text"] for row in rows))
    exact = pairwise_scores(truth, group_rows(vectors, THRESHOLD).tolist())
    monkeypatch.setattr(similarity, "EXACT_PRODUCT", 0)
    candidates = pairwise_scores(truth, group_rows(vectors, THRESHOLD).tolist())
    assert candidates[0] >= PRECISION_FLOOR
    assert candidates[1] >= RECALL_FLOOR
    assert abs(candidates[0] - exact[0]) < 0.02
    assert abs(candidates[1] - exact[1]) < 0.02


async def test_cases_are_read_a_page_at_a_time_and_each_once(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = hotline_rows()
    code, _, err = await hotline(config, write_csv(tmp_path / "h.csv", rows), "--mapping", write_mapping(tmp_path))
    assert code == 0, err
    monkeypatch.setattr(similar, "PAGE", 4)
    monkeypatch.setattr(similar, "SEGMENT_CHUNK", 7)
    entries, documents, truncated = await similar._corpus(None, 1000)
    assert len(entries) == len({entry.case_id for entry in entries}) == len(rows)
    assert not truncated
    assert all(documents)
    entries, _, truncated = await similar._corpus(None, 10)
    assert (len(entries), truncated) == (10, True)
    newest = await Case.all().order_by("-created_at", "-id").limit(10)
    assert {entry.code for entry in entries} == {case.code for case in newest}
