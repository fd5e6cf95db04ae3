"""Word-level KenLM perplexity (CCNet / data-juicer style), trained on the reference text.

The `kenlm` wheel built from PyPI's sdist gives the query side only (kenlm.Model); the
estimation binary `lmplz` is not part of it. So the model is estimated here: word n-gram
counts with interpolated modified Kneser-Ney smoothing (Chen & Goodman 1998, as lmplz
estimates it: adjusted counts = raw counts for the highest order and for n-grams that start
with <s>, continuation counts otherwise; three discounts per order from the count-of-counts;
the unigram level interpolated with the uniform distribution over the vocabulary and <unk>),
written as an ARPA file, which kenlm loads and queries.

Text is scored the way CCNet scores it: each non-empty line is a sentence (<s> ... </s>),
words are lower-cased `\\w+` runs and single punctuation marks, and a document's perplexity
is 10 ** (-sum of log10 p / number of predicted tokens, </s> included).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def words(line: str) -> list[str]:
    return _WORD.findall(line.lower())


def sentences(text: str) -> list[list[str]]:
    return [w for w in (words(line) for line in text.splitlines()) if w]


def _discounts(adjusted: Counter, order: int) -> tuple[float, float, float]:
    """Modified Kneser-Ney D1, D2, D3+ from the count-of-counts n1..n4 of one order."""
    n = Counter(c for c in adjusted.values() if c <= 4)
    n1, n2, n3, n4 = (n.get(i, 0) for i in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        raise ValueError(
            f"order {order}: too little training text for Kneser-Ney discounts (count-of-counts {n1}, {n2}, {n3}, {n4})"
        )
    y = n1 / (n1 + 2 * n2)
    ds = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    # Tiny or odd corpora can give a discount outside (0, c]; clamp as lmplz would refuse.
    d1, d2, d3 = (min(max(d, 1e-3), float(i + 1)) for i, d in enumerate(ds))
    return d1, d2, d3


def estimate(texts, order: int = 3) -> tuple[list[dict[tuple, tuple[float, float]]], list[tuple[float, float, float]]]:
    """Interpolated modified-KN model: per order {ngram: (log10 p, log10 backoff)}, and the discounts."""
    if order < 2:
        raise ValueError(f"order must be >= 2, got {order}")
    raw: list[Counter] = [Counter() for _ in range(order + 1)]
    for text in texts:
        for sent in sentences(text):
            seq = [BOS, *sent, EOS]
            for i in range(1, len(seq)):  # n-grams ending at each predicted token
                for k in range(1, order + 1):
                    if i - k + 1 < 0:
                        break
                    raw[k][tuple(seq[i - k + 1 : i + 1])] += 1
    if not raw[1]:
        raise ValueError("no words in the training text")
    # <s>-initial n-grams that could not be longer keep raw counts at every order.
    adjusted: list[Counter] = [Counter() for _ in range(order + 1)]
    adjusted[order] = raw[order]
    for k in range(order - 1, 0, -1):
        left = Counter(g[1:] for g in raw[k + 1])  # distinct left extensions
        adjusted[k] = Counter({g: (c if g[0] == BOS else left[g]) for g, c in raw[k].items()})
    discounts = [(0.0, 0.0, 0.0)] + [_discounts(adjusted[k], k) for k in range(1, order + 1)]  # index = order

    def disc(k, c):
        return discounts[k][min(c, 3) - 1]

    # Per context: total adjusted count and the discounted mass (gamma numerator).
    probs: list[dict] = [dict() for _ in range(order + 1)]
    gammas: list[dict] = [dict() for _ in range(order + 1)]
    for k in range(1, order + 1):
        total: defaultdict[tuple, float] = defaultdict(float)
        mass: defaultdict[tuple, float] = defaultdict(float)
        for g, c in adjusted[k].items():
            total[g[:-1]] += c
            mass[g[:-1]] += disc(k, c)
        gammas[k] = {h: mass[h] / total[h] for h in total}
        if k == 1:
            vocab = len(adjusted[1]) + 1  # + <unk>; <s> is never predicted
            g0 = gammas[1][()]
            for g, c in adjusted[1].items():
                probs[1][g] = (c - disc(1, c)) / total[()] + g0 / vocab
            probs[1][(UNK,)] = g0 / vocab
        else:
            lower = probs[k - 1]
            for g, c in adjusted[k].items():
                h = g[:-1]
                probs[k][g] = (c - disc(k, c)) / total[h] + gammas[k][h] * lower[g[1:]]
    tables = []
    for k in range(1, order + 1):
        table = {}
        for g, p in probs[k].items():
            bow = gammas[k + 1].get(g) if k < order else None
            table[g] = (math.log10(p), math.log10(bow) if bow else 0.0)
        if k == 1:
            table[(BOS,)] = (-99.0, math.log10(gammas[2][(BOS,)]) if (BOS,) in gammas[2] else 0.0)
        tables.append(table)
    return tables, discounts[1:]


def write_arpa(tables: list[dict], path: str | Path) -> None:
    path = Path(path)
    order = len(tables)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\\data\\\n")
        for k, t in enumerate(tables, 1):
            f.write(f"ngram {k}={len(t)}\n")
        for k, t in enumerate(tables, 1):
            f.write(f"\n\\{k}-grams:\n")
            for g in sorted(t):
                lp, bow = t[g]
                if k < order:
                    f.write(f"{lp:.6f}\t{' '.join(g)}\t{bow:.6f}\n")
                else:
                    f.write(f"{lp:.6f}\t{' '.join(g)}\n")
        f.write("\n\\end\\\n")


@dataclass
class WordLM:
    """A kenlm.Model over an ARPA file written by `train`."""

    path: Path
    order: int

    def __post_init__(self):
        import kenlm

        self.model = kenlm.Model(str(self.path))

    @classmethod
    def train(cls, texts, path: str | Path, order: int = 3) -> WordLM:
        tables, _ = estimate(texts, order)
        tmp = Path(path).with_name(f".{Path(path).name}.tmp")
        write_arpa(tables, tmp)
        tmp.replace(path)
        return cls(Path(path), order)

    def log10_prob(self, text: str) -> tuple[float, int]:
        """(sum of log10 p over the text's sentences, predicted tokens incl. </s>)."""
        total, n = 0.0, 0
        for sent in sentences(text):
            total += self.model.score(" ".join(sent), bos=True, eos=True)
            n += len(sent) + 1
        return total, n

    def perplexity(self, texts: list[str]) -> list[float]:
        """Word perplexity per document (CCNet's doc-level pp); NaN (unscored) for a text without words."""
        out = []
        for text in texts:
            total, n = self.log10_prob(text)
            out.append(10.0 ** (-total / n) if n else math.nan)
        return out


KENLM_CODE_VERSION = "kenlm-v1"


def reference_key(order: int) -> str:
    from tasks.core.hashing import hash_json

    digest = hash_json({"ref": "wiki_leads/train", "order": order, "code": KENLM_CODE_VERSION})
    return f"model-kenlm{order}-{digest[:16]}"


def reference_kenlm(order: int = 3, workspace=None, texts=None) -> WordLM:
    """The word-level model of the reference text (Wikipedia leads, train split), trained
    once and cached as `selection/<key>/ref.arpa` in the workspace (any Dask worker loads
    it from there). `texts` replaces the reference (tests)."""
    import tempfile

    if texts is None:
        from tasks.core.reference import wiki_leads

        texts = wiki_leads("train").column("text").to_pylist()
    if workspace is None:
        folder = Path(tempfile.mkdtemp(prefix="kenlm-"))
        return WordLM.train(texts, folder / "ref.arpa", order)
    key = reference_key(order)
    folder = workspace.stage_dir("selection", key)
    if workspace.is_done("selection", key):
        return WordLM(folder / "ref.arpa", order)
    with workspace.claim("selection", key) as claim:  # concurrent arms: one trains it, the rest load it
        if not claim.todo:
            return WordLM(folder / "ref.arpa", order)
        folder.mkdir(parents=True, exist_ok=True)
        lm = WordLM.train(texts, folder / "ref.arpa", order)
        workspace.mark_done("selection", key, {"order": order, "arpa_bytes": (folder / "ref.arpa").stat().st_size})
        return lm
