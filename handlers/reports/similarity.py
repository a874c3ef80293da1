"""Text similarity of cases: Chinese word segmentation (jieba), TF-IDF vectors, grouping.

Pure computation, no database (handlers/reports/similar.py reads and stores the terms). Everything here
that costs CPU is synchronous and meant to run in a worker thread (`asyncio.to_thread`); jieba's
dictionary is loaded once per process, in a thread too (`Segmenter.ready`).

- **Terms.** A case's text is segmented by jieba (precise mode, no HMM: it is a third faster and new-word
  guessing mostly invents place names). Kept: words of Chinese or Latin letters; dropped: punctuation,
  anything with a digit (house numbers, dates, phone numbers), single characters except a few that carry
  the problem (灯, 水, 电, 狗…), the stop words below (complaint boilerplate such as 您好, 反映, 希望,
  相关部门, the hotline's 来电人称, and function words), and administrative names (吴兴区, 湖州市,
  爱山街道): a kind of problem is the same in every district, and the district is listed beside the group.
  Road names become their kind (解放路 → 路) for the same reason. A few synonyms are folded (噪声 → 噪音).
- **Vectors.** TF-IDF over the cases being compared: sublinear term frequency (1 + log tf), smoothed
  inverse document frequency (log((1 + n) / (1 + df)) + 1), each row L2-normalised, as a scipy sparse
  CSR matrix of float32: about 12 bytes a term a case, 25 MB for 100,000 cases.
- **Grouping** (`group_rows`). Single-pass clustering against group centres, in batches: each case joins
  the group whose centre (the normalised sum of its members) is most similar, when that similarity is at
  least the threshold, else it starts a group; then one more pass reassigns every case to its best centre
  (which undoes most of the order's effect) and groups are recomputed. A batch of cases is compared with
  the centres as one sparse product, and cases of the batch that start groups are compared with each other
  one at a time: the memory in use is the matrix, the centres and one batch's similarities (batch × groups),
  whatever the number of cases. No pair of cases is ever enumerated, so the cost grows with cases × groups
  sharing a term, not with the square of the cases.
- **Representative** (`medoids`). A group's medoid is the member with the largest summed cosine similarity
  to the other members; with unit vectors that sum is the dot product with the sum of the members, so it is
  exact and costs one pass.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

# Complaint boilerplate (greetings, "I want to report", "please ask the departments concerned to handle
# it", the hotline's "the caller says") and function words: present in most texts whatever the problem.
STOP_WORDS = frozenset(
    """
    您好 你好 您们好 大家好 请问 问一下 请 麻烦 谢谢 感谢 谢谢您 辛苦 拜托 领导 工作人员 同志
    反映 反应 反馈 投诉 举报 咨询 建议 要求 请求 希望 恳请 盼望 呼吁 诉求 表示 称 说 讲 问 想
    来电 来电人 来电人称 人称 来电反映 市民 市民来电 群众 居民 业主 本人 家人 本人称 其 该 此 某 某些
    相关 相关部门 有关 有关部门 部门 政府 单位 职能部门 主管部门 上级 尽快 及时 立即 马上 早日
    处理 解决 处置 协调 落实 核实 核查 调查 查处 整改 整治 管理 管管 管一管 重视 关注 帮助 帮忙 介入
    问题 情况 事情 现象 事 方面 一下 一点 有点 一直 经常 总是 老是 每天 天天 每次 多次 好几次 几次
    现在 目前 最近 近期 近来 长期 长时间 已经 还是 仍然 依然 照样 今天 昨天 前天 这几天 这段时间
    非常 特别 十分 很 太 真 真的 极其 严重 越来越 比较 更 最 还 又 也 都 就 才 再 却 只 只能
    我 我们 我家 你 你们 他 她 它 他们 她们 咱们 大家 自己 别人 人家 有人 有些 一些 一个 这个 那个
    这些 那些 这里 那里 这边 那边 这样 那样 这么 那么 什么 怎么 怎么办 为什么 如何 怎样 哪里 谁
    能否 能不能 可不可以 是否 可以 能 会 要 应该 应当 需要 必须 得 没有 没 不 无 未 别 不要
    的 地 得 着 了 过 吗 呢 吧 啊 呀 哦 嘛 哈 啦 呗 么 是 有 在 和 与 及 以及 或 或者 而 而且 并 并且
    但 但是 可是 因为 所以 如果 虽然 然后 而是 还有 等 等等 把 被 让 给 对 向 从 到 于 为 以 由 跟
    将 就是 也是 还是 不是 可能 应该 一定 其实 确实 当时 时候 之后 以后 以前 之前 期间 左右 多 个
    造成 导致 影响 存在 出现 发生 进行 予以 加以 给予 无果 未果 无效 作用 效果 一样 这种 那种
    """.split()
)

# Single characters that are the problem itself; every other one-character word is dropped.
KEPT_SINGLE = frozenset("灯水电狗猫臭吵堵坑漏烟黑脏贵桥河路车楼房树鼠蚊风气票钱药校")

# Folded to one spelling: words a citizen and a hotline operator use for the same thing.
SYNONYMS = {
    "噪声": "噪音",
    "吵闹": "噪音",
    "扰民": "噪音",
    "电瓶车": "电动车",
    "电瓶": "电池",
    "电单车": "电动车",
    "电动自行车": "电动车",
    "窨井盖": "井盖",
    "窨井": "井盖",
    "下水道": "井盖",
    "红绿灯": "信号灯",
    "菜场": "菜市场",
    "农贸市场": "菜市场",
    "小孩": "孩子",
    "小孩子": "孩子",
    "学生": "孩子",
    "家长": "接送",
    "老人家": "老人",
    "老年人": "老人",
    "车位": "停车位",
    "停车场": "停车位",
    "黄牛": "号源",
    "抢号": "号源",
    "约满": "号源",
    "物业费": "物业费",
    "渗水": "漏水",
    "滴水": "漏水",
}

# Administrative places (吴兴区, 湖州市, 武康街道): a kind of problem does not depend on them.
_ADMINISTRATIVE = re.compile(r"^.{2,}(省|市|区|县|镇|乡|街道)$")
_NOT_ADMINISTRATIVE = frozenset(
    "小区 社区 园区 景区 校区 城区 市区 郊区 老城区 新城区 停车区 住宅区 服务区 开发区".split()
    + "超市 菜市 城市 夜市 集市 门市".split()
)
_ROAD = re.compile(r"^.+(路|街|巷|弄)$")  # 解放路 → 路
_ROAD_KEPT = frozenset("马路 道路 公路 街道 大街 小巷 商业街 老街 背街".split())
_WORD = re.compile(r"^[\u4e00-\u9fffA-Za-z]+$")

ANALYZER_REVISION = 1  # raise when the rules above change in a way the stop words do not show


def analyzer_version(jieba_version: str) -> str:
    """Identifies how terms are made: stored terms of another version are made again."""
    material = "|".join(
        [
            str(ANALYZER_REVISION),
            jieba_version,
            " ".join(sorted(STOP_WORDS)),
            " ".join(sorted(KEPT_SINGLE)),
            " ".join(f"{k}={v}" for k, v in sorted(SYNONYMS.items())),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def keep_term(word: str) -> str | None:
    """The term a segmented word counts as, or None when it does not count."""
    word = SYNONYMS.get(word, word)
    if word in STOP_WORDS or not _WORD.match(word):
        return None
    if len(word) == 1:
        return word if word in KEPT_SINGLE else None
    if word not in _NOT_ADMINISTRATIVE and _ADMINISTRATIVE.match(word):
        return None
    if word not in _ROAD_KEPT and _ROAD.match(word):
        return word[-1]
    return word.lower()


class Segmenter:
    """jieba, loaded once per process. `load` is blocking (about a second): call it in a thread
    (`await asyncio.to_thread(segmenter.load)`), never on the event loop; `terms` too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self.version = ""
        self.loaded_in = ""  # the thread that loaded the dictionary (never the event loop's)

    @property
    def loaded(self) -> bool:
        return self._tokenizer is not None

    def load(self) -> None:
        with self._lock:
            if self._tokenizer is not None:
                return
            import jieba

            jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict…" lines on the CLI's output
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            self.version = analyzer_version(str(jieba.__version__))
            self.loaded_in = threading.current_thread().name
            self._tokenizer = tokenizer

    def dictionary(self) -> dict[str, int]:
        """jieba's words and their frequencies (for the benchmark's made-up texts)."""
        self.load()
        return dict(self._tokenizer.FREQ)

    def terms(self, text: str) -> list[str]:
        """The terms of one text, in order (repeated terms repeated: their count is the term frequency)."""
        if self._tokenizer is None:
            self.load()
        text = unicodedata.normalize("NFKC", text)
        kept = (keep_term(word) for word in self._tokenizer.cut(text, HMM=False))
        return [term for term in kept if term]

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.terms(text) for text in texts]


SEGMENTER = Segmenter()  # the process's one jieba


@dataclass(frozen=True)
class Vectors:
    """TF-IDF rows (L2-normalised, CSR float32), one per document, and the vocabulary."""

    matrix: sparse.csr_matrix
    vocabulary: dict[str, int]
    words: int = 0  # columns 0…words-1 are words, the rest characters (CHARACTER_MARK)


CHARACTER_MARK = "·"  # a character feature: ·灯 (from 路灯, 灯光) is not the word 灯
MIN_DF = 2


def features(terms: Iterable[str]) -> Iterable[str]:
    """A document's features: its terms, and the characters of its terms of two or more Chinese
    characters (路灯 and 灯光 share ·灯, 漏水 and 水管 share ·水: different wordings of one problem)."""
    for term in terms:
        yield term
        if len(term) > 1 and not term.isascii():
            for char in term:
                yield CHARACTER_MARK + char


def vectorize(documents: Sequence[Sequence[str]]) -> Vectors:
    """TF-IDF of documents given as term lists (a document with no term is a zero row). Features found
    in fewer than MIN_DF documents are left out: they link a case to no other, and would only lower
    its similarity to every other."""
    vocabulary: dict[str, int] = {}
    # Typed arrays, not lists: 2.4 million features (100,000 cases) are 19 MB here, 170 MB as Python objects.
    indptr = array("q", [0])
    indices = array("i")
    counts = array("f")
    for terms in documents:
        row: dict[int, int] = {}
        for term in features(terms):
            column = vocabulary.setdefault(term, len(vocabulary))
            row[column] = row.get(column, 0) + 1
        indices.extend(row.keys())
        counts.extend(row.values())
        indptr.append(len(indices))
    shape = (len(documents), max(len(vocabulary), 1))
    tf = sparse.csr_matrix(
        (
            np.frombuffer(counts, dtype=np.float32).copy(),
            np.frombuffer(indices, dtype=np.int32).copy(),
            np.frombuffer(indptr, dtype=np.int64).copy(),
        ),
        shape=shape,
    )
    tf.data = 1.0 + np.log(tf.data)
    df = np.bincount(tf.indices, minlength=shape[1]).astype(np.float32)
    idf = np.log((1.0 + shape[0]) / (1.0 + df)) + 1.0
    idf[df < MIN_DF] = 0.0
    tf.data *= idf[tf.indices]
    tf.eliminate_zeros()
    # Words first, characters after: the grouping takes candidates from shared words (`_best`).
    is_char = np.zeros(shape[1], dtype=bool)
    for term, column in vocabulary.items():
        is_char[column] = term.startswith(CHARACTER_MARK)
    order = np.argsort(is_char, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    tf = sparse.csr_matrix((tf.data, position[tf.indices], tf.indptr), shape=shape)
    ordered = {term: int(position[column]) for term, column in vocabulary.items()}
    return Vectors(matrix=normalize_rows(tf), vocabulary=ordered, words=int((~is_char).sum()))


def normalize_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    scaled = sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix, dtype=np.float32)
    scaled.sort_indices()
    return scaled


def similarities_to(vectors: Vectors, row: int) -> np.ndarray:
    """The cosine similarity of one document with every document (itself included), as a dense array."""
    return np.asarray((vectors.matrix @ vectors.matrix[row].T).toarray()).ravel()


def most_similar(vectors: Vectors, row: int, limit: int, floor: float) -> list[tuple[int, float]]:
    """Up to `limit` other documents most similar to `row`, at least `floor`, most similar first
    (ties: the earlier document first)."""
    scores = similarities_to(vectors, row)
    scores[row] = -1.0
    candidates = np.flatnonzero(scores >= floor)
    if candidates.size > limit:
        candidates = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
    ordered = sorted(candidates.tolist(), key=lambda index: (-scores[index], index))
    return [(index, float(scores[index])) for index in ordered]


def _centres(matrix: sparse.csr_matrix, labels: np.ndarray, groups: int) -> sparse.csr_matrix:
    """Each group's normalised sum of members, one row a group."""
    membership = sparse.csr_matrix(
        (np.ones(labels.size, dtype=np.float32), (labels, np.arange(labels.size))), shape=(groups, labels.size)
    )
    return normalize_rows(membership @ matrix)


EXACT_PRODUCT = 4_000_000  # batch rows × groups up to which every centre is scored in full
CANDIDATES = 32  # beyond that: per case, the centres sharing the most word weight, scored in full


def _row_best(rows: np.ndarray, groups: np.ndarray, scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The best group of each of `count` rows from (row, group, score) triples sorted by row; ties go to
    the earliest group. Rows without a triple get -1 and 0.0."""
    best = np.full(count, -1, dtype=np.int64)
    value = np.zeros(count, dtype=np.float32)
    if rows.size:
        present, starts = np.unique(rows, return_index=True)
        value[present] = np.maximum.reduceat(scores, starts)
        candidates = np.where(scores == value[rows], groups, np.iinfo(np.int64).max)
        best[present] = np.minimum.reduceat(candidates, starts)
    return best, value


def _triples(scores: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(scores.shape[0]), np.diff(scores.indptr))
    return rows, scores.indices.astype(np.int64), scores.data


def _best(batch: sparse.csr_matrix, centres: sparse.csr_matrix | None, words: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of the batch: the most similar centre and that similarity (-1, 0.0 without centres).

    Up to EXACT_PRODUCT (rows × centres) every centre is scored: one sparse product. Beyond, a product
    over all centres costs rows × centres sharing any character, and with tens of thousands of groups of
    one that is nearly all of them; so candidates come from the word columns alone (rarer than
    characters), the CANDIDATES best of each row by word weight are scored in full (words and
    characters), and a centre sharing no word with a case is not one of its candidates."""
    rows = batch.shape[0]
    if centres is None or centres.shape[0] == 0:
        return np.full(rows, -1, dtype=np.int64), np.zeros(rows, dtype=np.float32)
    if rows * centres.shape[0] <= EXACT_PRODUCT or words >= batch.shape[1]:
        return _row_best(*_triples((batch @ centres.T).tocsr()), rows)
    word_scores = (batch[:, :words] @ centres[:, :words].T).tocsr()
    row_of, group_of, score = _triples(word_scores)
    order = np.lexsort((-score, row_of))  # by row, best first
    rank = np.arange(order.size) - word_scores.indptr[row_of[order]]
    keep = order[rank < CANDIDATES]
    row_of, group_of, score = row_of[keep], group_of[keep], score[keep]
    characters = batch[:, words:].tocsr()
    centre_characters = centres[:, words:].tocsr()
    score = score + np.asarray(characters[row_of].multiply(centre_characters[group_of]).sum(axis=1)).ravel()
    return _row_best(row_of, group_of, score.astype(np.float32), rows)


def _new_groups(local: sparse.csr_matrix, threshold: float) -> np.ndarray:
    """Cases that joined no earlier group, in order, against the groups they start among themselves:
    a group number (0…) for each. From their pairwise similarities R (dense, rows × rows), the similarity
    of case j with the centre of group g is Σ_{m∈g} R[m, j] / ‖Σ_{m∈g} x_m‖, and
    ‖s + x_j‖² = ‖s‖² + 2 s·x_j + 1: each step costs one row of R and one entry per group."""
    count = local.shape[0]
    pairwise = (local @ local.T).toarray()
    dots = np.zeros((count, count), dtype=np.float64)  # dots[g, j] = (sum of group g) · x_j
    norms = np.zeros(count, dtype=np.float64)  # ‖sum of group g‖
    labels = np.empty(count, dtype=np.int64)
    groups = 0
    for j in range(count):
        if groups:
            scores = dots[:groups, j] / norms[:groups]
            pick = int(np.argmax(scores))
            if scores[pick] < threshold:
                pick = -1
        else:
            pick = -1
        if pick < 0:
            pick = groups
            groups += 1
        norms[pick] = np.sqrt(norms[pick] ** 2 + 2 * dots[pick, j] + pairwise[j, j])
        dots[pick] += pairwise[j]
        labels[j] = pick
    return labels


def _leader_pass(matrix: sparse.csr_matrix, words: int, threshold: float, batch_size: int) -> np.ndarray:
    labels = np.full(matrix.shape[0], -1, dtype=np.int64)
    sums = sparse.csr_matrix((0, matrix.shape[1]), dtype=np.float32)  # unnormalised sums of the groups so far
    for start in range(0, matrix.shape[0], batch_size):
        batch = matrix[start : start + batch_size]
        groups = sums.shape[0]
        best, value = _best(batch, normalize_rows(sums) if groups else None, words)
        joined = value >= threshold
        batch_labels = np.where(joined, best, -1)
        rest = np.flatnonzero(~joined)
        if rest.size:
            batch_labels[rest] = groups + _new_groups(batch[rest], threshold)
        labels[start : start + batch.shape[0]] = batch_labels
        total = int(batch_labels.max()) + 1 if batch_labels.size else groups
        sums = sparse.csr_matrix(sums, copy=False)
        sums.resize((max(total, groups), matrix.shape[1]))
        sums = (sums + _group_sums(batch, batch_labels, sums.shape[0])).tocsr()
    return labels


def _group_sums(matrix: sparse.csr_matrix, labels: np.ndarray, groups: int) -> sparse.csr_matrix:
    membership = sparse.csr_matrix(
        (np.ones(labels.size, dtype=np.float32), (labels, np.arange(labels.size))), shape=(groups, labels.size)
    )
    return (membership @ matrix).tocsr()


def _compact(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels renumbered 0…k-1 in order of first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64), int(first.size)


def group_rows(vectors: Vectors, threshold: float, batch_size: int = 1024) -> np.ndarray:
    """A group number for every document (0…k-1; a document like no other is a group of one)."""
    matrix = vectors.matrix
    if matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    labels, groups = _compact(_leader_pass(matrix, vectors.words, threshold, batch_size))
    # Reassignment: every document to its most similar centre, or alone when none reaches the threshold.
    centres = _centres(matrix, labels, groups)
    reassigned = labels.copy()
    for start in range(0, matrix.shape[0], batch_size):
        best, value = _best(matrix[start : start + batch_size], centres, vectors.words)
        own = reassigned[start : start + best.size]
        reassigned[start : start + best.size] = np.where(value >= threshold, best, own)
    # A document whose own group's centre is below the threshold even so stays where it is: with the
    # threshold reached nowhere, moving it alone would only split pairs that the first pass found.
    return _compact(reassigned)[0]


def medoids(vectors: Vectors, labels: np.ndarray) -> dict[int, int]:
    """For each group, the row of its medoid (the largest summed similarity to the group's members)."""
    if labels.size == 0:
        return {}
    groups = int(labels.max()) + 1
    sums = _group_sums(vectors.matrix, labels, groups)
    score = np.asarray(vectors.matrix.multiply(sums[labels]).sum(axis=1)).ravel()
    best: dict[int, int] = {}
    for row in np.lexsort((np.arange(labels.size), -score)):  # highest score first, then earliest
        best.setdefault(int(labels[row]), int(row))
    return best


def pairwise_scores(truth: Sequence[str], predicted: Sequence[int]) -> tuple[float, float, int, int, int]:
    """Pairwise precision and recall of a grouping against labels: over all pairs of documents, a pair
    put together is right when the labels agree. Returns (precision, recall, together, right, same label)."""

    def pairs(counts: Iterable[int]) -> int:
        return sum(n * (n - 1) // 2 for n in counts)

    from collections import Counter

    together = pairs(Counter(predicted).values())
    same = pairs(Counter(truth).values())
    right = pairs(Counter(zip(truth, predicted, strict=True)).values())
    precision = right / together if together else 1.0
    recall = right / same if same else 1.0
    return precision, recall, together, right, same


def f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def representatives(vectors: Vectors, count: int, duplicate: float = 0.8) -> list[int]:
    """The `count` most typical rows of one set of documents (a topic's cases): ranked by their cosine
    similarity to the set's centre (the normalised sum of every row, as a group's medoid is chosen), a
    row almost the same as one already chosen (similarity ≥ `duplicate`) left out so that the excerpts
    are not one text repeated; rows sharing no term with the others come last."""
    matrix = vectors.matrix
    if matrix.shape[0] == 0 or count <= 0:
        return []
    centre = np.asarray(matrix.sum(axis=0)).ravel()
    score = matrix @ centre
    order = np.lexsort((np.arange(matrix.shape[0]), -score))  # most typical first, then earliest
    # Near-duplicates are looked for among the most typical rows only, in one product.
    candidates = order[: max(100, count * 20)]
    pairs = (matrix[candidates] @ matrix[candidates].T).toarray()
    chosen: list[int] = []
    skipped: list[int] = []  # near-duplicates of a chosen row, then rows sharing nothing with the rest
    unlike: list[int] = []
    for position in range(len(candidates)):
        if len(chosen) >= count:
            break
        if score[candidates[position]] <= 0:
            unlike.append(position)
        elif chosen and float(pairs[position, chosen].max()) >= duplicate:
            skipped.append(position)
        else:
            chosen.append(position)
    if chosen:  # the least like what is chosen first: an exact repeat last
        skipped.sort(key=lambda position: float(pairs[position, chosen].max()))
    return [int(candidates[position]) for position in [*chosen, *skipped, *unlike][:count]]
