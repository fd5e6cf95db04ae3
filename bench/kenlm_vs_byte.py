"""Word-level KenLM perplexity vs the byte-level Kneser-Ney model: which documents each selects.

Both models are trained on the same reference text (the Wikipedia leads, train split, as
the `perplexity` selection method uses: tasks.selection.selection.reference_lm). The pool is
every document of the shared crawl: the WARC's 1,214 pages (decoded and extracted as ingestion
does), the CC-MAIN-2019-30 sample, and the 530 Python documentation pages (Debian
python3.11-doc). Each model keeps the lowest-perplexity documents up to the same token budget
(a fraction of the pool's tokens, tasks.core.sampling); we report the overlap of the two
selections (Jaccard, share of each), the Spearman rank correlation of the two scores with a
bootstrap interval, and what each selection is made of.

    PYTHONPATH=. python bench/kenlm_vs_byte.py [--order 3] [--fractions 0.1,0.3,0.5] [--english-only]

--english-only first applies the anchors' language filter (lid.176, English > 0.65), as a
recipe's language step would before perplexity selection.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def pool() -> tuple[list[str], list[str]]:
    from langid_agreement import cc_texts, crawl_texts, python_doc_texts

    texts, origin = [], []
    for name, fn in (("crawl-warc", crawl_texts), ("cc-2019-30", cc_texts), ("python-docs", python_doc_texts)):
        got = fn()
        texts += got
        origin += [name] * len(got)
    return texts, origin


def ranks(x: np.ndarray) -> np.ndarray:
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--byte-order", type=int, default=5)
    ap.add_argument("--fractions", default="0.1,0.3,0.5")
    ap.add_argument("--english-only", action="store_true", help="pool = documents lid.176 keeps as English (> 0.65)")
    args = ap.parse_args()

    from tasks.core.reference import wiki_leads
    from tasks.core.sampling import stable_order, take_until_budget
    from tasks.selection.kenlm_lm import WordLM
    from tasks.selection.ngram_lm import KneserNeyLM

    texts, origin = pool()
    if args.english_only:
        from tasks.ingest.langid import keep

        kept = [i for i, t in enumerate(texts) if keep(t, ["en"], 0.65)]
        texts, origin = [texts[i] for i in kept], [origin[i] for i in kept]
    ids = [f"{o}/{i:05d}" for i, o in enumerate(origin)]
    ref = wiki_leads("train").column("text").to_pylist()
    print(f"pool: {len(texts)} documents {dict(Counter(origin))}; reference: {len(ref)} Wikipedia leads")

    t0 = time.time()
    byte_lm = KneserNeyLM.train(ref, args.byte_order)
    byte_pp = np.asarray(byte_lm.perplexity(texts))
    t1 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        word_lm = WordLM.train(ref, Path(tmp) / "ref.arpa", args.order)
        t2 = time.time()
        word_pp = np.asarray(word_lm.perplexity(texts))
    t3 = time.time()
    print(
        f"byte KN order {args.byte_order}: train+score {t1 - t0:.1f}s; "
        f"KenLM word order {args.order}: train {t2 - t1:.1f}s, score {t3 - t2:.1f}s"
    )
    ok = np.isfinite(word_pp) & np.isfinite(byte_pp)
    rho = spearman(byte_pp[ok], word_pp[ok])
    rng = np.random.default_rng(0)
    idx = np.flatnonzero(ok)
    boots = [spearman(byte_pp[s], word_pp[s]) for s in (rng.choice(idx, len(idx)) for _ in range(200))]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    print(f"Spearman rank correlation of the two perplexities: {rho:.3f} (bootstrap 95% CI {lo:.3f}-{hi:.3f})")

    tokens = np.asarray([max(1, len(t) // 4) for t in texts], dtype=np.int64)
    total = int(tokens.sum())
    print("\n| budget (share of pool tokens) | docs byte | docs word | overlap | Jaccard | byte docs also in word |")
    print("|---:|---:|---:|---:|---:|---:|")
    comp = []
    for frac in (float(f) for f in args.fractions.split(",")):
        budget = int(frac * total)
        sel = {}
        for name, pp in (("byte", byte_pp), ("word", np.where(np.isnan(word_pp), np.inf, word_pp))):
            order = stable_order(pp, ids, descending=False)
            sel[name] = set(take_until_budget(order, tokens, budget).tolist())
        inter = sel["byte"] & sel["word"]
        union = sel["byte"] | sel["word"]
        print(
            f"| {frac:.0%} | {len(sel['byte'])} | {len(sel['word'])} | {len(inter)} | "
            f"{len(inter) / len(union):.3f} | {len(inter) / len(sel['byte']):.3f} |"
        )
        comp.append((frac, {k: Counter(origin[i] for i in v) for k, v in sel.items()}))
    print("\nwhat each selection holds (documents by origin):")
    for frac, c in comp:
        print(f"  {frac:.0%}: byte {dict(c['byte'])}; word {dict(c['word'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
