"""The n-gram membership sketch (tasks/membership/sketch.py, numpy bit array) against
rbloom (a Rust Bloom filter), in one run on the same n-grams.

    PYTHONPATH=$PWD python bench/membership_sketch.py [--repeat 3] [--queries 200000]

Input: the 8-word tiles of real text (WikiText-2 test and the CC-MAIN-2019-30 sample in
../shared/data), repeated --repeat times with a suffix so the items differ. Both filters
are sized for the same items at p = 0.01 and fed the same strings; rbloom hashes them with
the same xxh3-128 (a persistent hash: Python's own is salted per process). Reported: CPU
seconds to insert and to query (process_time, fair on a shared machine), the measured
false-positive rate on random 8-grams of held-out words, the bytes of each filter, and the
ratio winnow / rbloom.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import xxhash  # noqa: E402

from tasks.core.paths import shared_data  # noqa: E402
from tasks.membership.sketch import FP_RATE, N_WORDS, NgramSketch, tiles, words  # noqa: E402

_HALF = 1 << 127


def _texts() -> tuple[list[str], list[str]]:
    wiki = gzip.open(shared_data() / "eval" / "wikitext-2-raw-test.raw.gz", "rt").read().split("\n = ")
    cc = [
        json.loads(line)["text"]
        for line in gzip.open(shared_data() / "crawl" / "CC-MAIN-2019-30-sample.jsonl.gz", "rt")
    ]
    return wiki[: len(wiki) // 2] + cc, wiki[len(wiki) // 2 :]


def _timed(fn):
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--queries", type=int, default=200_000)
    args = ap.parse_args()
    from rbloom import Bloom

    indexed, held = _texts()
    base = [g for t in indexed for g in tiles(words(t))]
    grams = [f"{g} {r}" if r else g for r in range(args.repeat) for g in base]
    vocab = np.asarray(words(" ".join(held)))
    rng = np.random.default_rng(0)
    queries = [" ".join(q) for q in vocab[rng.integers(0, len(vocab), (args.queries, N_WORDS))]]

    ours = NgramSketch.sized(len(grams), FP_RATE)
    _, t_ours_add = _timed(lambda: ours.add(grams))
    hits, t_ours_q = _timed(lambda: ours.contains(queries))
    theirs = Bloom(len(grams), FP_RATE, hash_func=lambda s: xxhash.xxh3_128_intdigest(s) - _HALF)
    _, t_rb_add = _timed(lambda: theirs.update(grams))
    rb_hits, t_rb_q = _timed(lambda: [q in theirs for q in queries])
    assert ours.contains(grams[:1000]).all() and all(g in theirs for g in grams[:1000])  # no false negatives
    rows = {
        "winnow": {
            "insert_s": t_ours_add,
            "query_s": t_ours_q,
            "fp_rate": float(np.mean(hits)),
            "bytes": int(ours.data.nbytes),
        },
        "rbloom": {
            "insert_s": t_rb_add,
            "query_s": t_rb_q,
            "fp_rate": float(np.mean(rb_hits)),
            "bytes": theirs.size_in_bits // 8,
        },
    }
    print(f"{len(grams):,} n-grams inserted, {len(queries):,} non-member queries, target p = {FP_RATE}")
    print("| filter | insert CPU s | query CPU s | false positives | bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['insert_s']:.3f} | {r['query_s']:.3f} | {r['fp_rate']:.4f} | {r['bytes']:,} |")
    w, b = rows["winnow"], rows["rbloom"]
    print(
        f"winnow / rbloom: insert {w['insert_s'] / b['insert_s']:.2f}x, query {w['query_s'] / b['query_s']:.2f}x time"
    )


if __name__ == "__main__":
    main()
