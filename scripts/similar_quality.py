"""Pairwise precision and recall of the similar-case grouping against the hand-labelled set.

    .venv/bin/python scripts/similar_quality.py [--threshold X ...] [--sweep] [--batch N] [--errors N]

tests/data/similar_cases.csv: one case a row (group, source, district, text); the group is the kind of
problem a person put it in. Over all pairs of cases, precision = pairs grouped together that share a label
/ pairs grouped together; recall = pairs sharing a label that are grouped together. The grouping is the
product's own (handlers/reports/similarity.py), at `[similar] threshold` unless told otherwise.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Config
from handlers.reports.similarity import SEGMENTER, f1, group_rows, pairwise_scores, vectorize

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "data" / "similar_cases.csv"


def load(path: Path = LABELLED) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def show_errors(rows: list[dict[str, str]], truth: list[str], labels: list[int], count: int) -> None:
    pairs = itertools.combinations(range(len(rows)), 2)
    wrong = [(a, b) for a, b in pairs if labels[a] == labels[b] and truth[a] != truth[b]]
    for a, b in wrong[:count]:
        print(f"  joined: {truth[a]} {rows[a]['text'][:30]} | {truth[b]} {rows[b]['text'][:30]}")
    for label in sorted(set(truth)):
        parts = Counter(labels[i] for i, t in enumerate(truth) if t == label)
        if len(parts) > 1:
            print(f"  split: {label} into {sorted(parts.values(), reverse=True)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--threshold", type=float, action="append")
    parser.add_argument("--sweep", action="store_true", help="thresholds 0.10 to 0.50 by 0.025")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--errors", type=int, default=0, help="show N wrongly joined pairs, and the split groups")
    args = parser.parse_args()
    rows = load()
    SEGMENTER.load()
    vectors = vectorize(SEGMENTER.many(row["text"] for row in rows))
    truth = [row["group"] for row in rows]
    thresholds = args.threshold or [Config().similar.threshold]
    if args.sweep:
        thresholds = [round(0.1 + 0.025 * step, 3) for step in range(17)]
    print(f"{len(rows)} cases, {len(set(truth))} labelled groups, {len(vectors.vocabulary)} features")
    print("threshold  precision  recall     F1  groups  of 2+")
    for threshold in thresholds:
        labels = group_rows(vectors, threshold, batch_size=args.batch).tolist()
        precision, recall, *_ = pairwise_scores(truth, labels)
        sizes = Counter(labels).values()
        print(
            f"{threshold:9.3f}  {precision:9.3f}  {recall:6.3f}  {f1(precision, recall):5.3f}  "
            f"{len(sizes):6d}  {sum(1 for size in sizes if size >= 2):5d}"
        )
        if args.errors:
            show_errors(rows, truth, labels, args.errors)


if __name__ == "__main__":
    main()
