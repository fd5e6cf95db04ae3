"""Selection scoring throughput (documents per CPU-second, one thread) against a
straightforward reference implementation in the same run, plus the quality figures the
issue asks for: the fastText classifier's held-out AUC and the DSIR KL reduction on the
CC-MAIN-2019-30 sample (697 docs) with Wikipedia leads (train split) as the target.

    PYTHONPATH=$PWD python bench/selection.py [--embed-docs 64] [--out bench/out/selection.json]

Rates use process CPU time (the machine is shared: wall time would measure the
neighbours); every run is single-threaded so the figures are per core.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import xxhash  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CC = ROOT.parent / "shared" / "data" / "crawl" / "CC-MAIN-2019-30-sample.jsonl.gz"


def cpu_rate(fn, n_docs: int, repeat: int = 1) -> float:
    """Documents per CPU-second of `fn()` (best of `repeat`)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return n_docs / max(best, 1e-9)


def load_cc() -> pa.Table:
    rows = [json.loads(line) for line in gzip.open(CC, "rt", encoding="utf-8")]
    texts = [r["text"] for r in rows]
    return pa.table(
        {
            "doc_id": [xxhash.xxh3_128_hexdigest(f"cc\x00{r['id']}".encode()) for r in rows],
            "text": texts,
            "n_chars": [len(t) for t in texts],
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embed-docs", type=int, default=64, help="documents for the embedding runs")
    parser.add_argument("--ref-docs", type=int, default=48, help="documents for the slow reference runs")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "selection.json"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from tasks.core.reference import wiki_leads
    from tasks.core.workspace import Workspace
    from tasks.selection import dsir, embeddings, ngram_lm
    from tasks.selection import quality_classifier as qc
    from tasks.selection.selection import reference_lm, select
    from tasks.selection.spec import FastTextConfig, SelectionSpec

    cc = load_cc()
    texts = cc.column("text").to_pylist()
    ids = cc.column("doc_id").to_pylist()
    n = len(texts)
    ws = Workspace.from_env(tempfile.mkdtemp(prefix="winnow-bench-"))
    rows, quality = [], {}

    def add(name, fast_name, fast, ref_name, ref):
        rows.append(
            {
                "scorer": name,
                "fast": fast_name,
                "fast_docs_per_cpu_s": fast,
                "reference": ref_name,
                "reference_docs_per_cpu_s": ref,
                "ratio": fast / ref,
            }
        )
        print(
            f"{name:12s} {fast:10.1f} docs/s  vs {ref:9.1f} docs/s  = {fast / ref:6.1f}x  ({fast_name} vs {ref_name})",
            flush=True,
        )

    # DSIR features: numpy byte-level hashing vs the same by Python loops, and vs sklearn's
    # HashingVectorizer (the library peer; murmurhash of n-gram strings, same kind of features).
    sub = texts[: args.ref_docs * 4]
    fast = cpu_rate(lambda: dsir.hashed_ngram_counts(texts), n, 3)
    add(
        "dsir-features",
        "numpy prefix-hash",
        fast,
        "pure-Python loops (same features)",
        cpu_rate(lambda: dsir.hashed_ngram_counts_reference(sub), len(sub)),
    )
    add(
        "dsir-features",
        "numpy prefix-hash",
        fast,
        "sklearn HashingVectorizer",
        cpu_rate(lambda: dsir.hashed_ngram_counts_sklearn(texts), n, 3),
    )
    model = dsir.fit(texts)
    add(
        "dsir-weights",
        "features + sparse matvec",
        cpu_rate(lambda: model.log_weights(texts), n, 3),
        "Python-loop features + per-doc dot",
        cpu_rate(lambda: _dsir_reference_weights(model, sub), len(sub)),
    )

    # fastText: one batched predict over the list vs one predict call per document.
    clf = qc.load(qc.train(cc, FastTextConfig().model_dump(), ws, seed=0))
    quality["fasttext"] = {
        k: clf.report[k]
        for k in (
            "heldout_auc",
            "heldout_accuracy",
            "heldout_positives",
            "heldout_negatives",
            "train_positives_per_fold",
        )
    }
    add(
        "fasttext",
        "batched predict",
        cpu_rate(lambda: clf.predict_batch(texts, ids), n, 3),
        "per-document predict",
        cpu_rate(lambda: clf.predict_one_by_one(texts), n),
    )

    # Perplexity: vectorised numpy Kneser-Ney vs the per-byte Python loop over dicts (same model).
    lm = reference_lm(5, ws)
    few = texts[: args.ref_docs]
    add(
        "perplexity",
        "numpy KN (batched)",
        cpu_rate(lambda: lm.perplexity(texts), n, 2),
        "per-byte Python loop",
        cpu_rate(lambda: [ngram_lm.perplexity_reference(lm, t) for t in few], len(few)),
    )

    # Embeddings: length-sorted batches of 32 vs one forward pass per document.
    emb_docs = texts[: args.embed_docs]  # the same documents for both
    embeddings.embed(emb_docs[:4])  # load the model outside the timing
    add(
        "embeddings",
        "batched (32, length-sorted)",
        cpu_rate(lambda: embeddings.embed(emb_docs), len(emb_docs)),
        "one document per forward",
        cpu_rate(lambda: embeddings.embed_one_by_one(emb_docs), len(emb_docs)),
    )

    # Quality: KL reduction of each method at the same token budget (30% of the crawl's tokens).
    budget = int(0.3 * np.sum(np.maximum(1, np.ceil(np.array(cc.column("n_chars").to_pylist()) / 4))))
    kl = {}
    for label, spec in [
        ("random", SelectionSpec(method="random", tokens=budget)),
        ("dsir", SelectionSpec(method="dsir", tokens=budget)),
        ("fasttext", SelectionSpec(method="fasttext", tokens=budget)),
        ("perplexity", SelectionSpec(method="perplexity", band=[0.05, 1.0], tokens=budget)),
    ]:
        stats = select(cc, spec, workspace=ws).stats
        kl[label] = {
            "kl_reduction": stats["kl_reduction"],
            "kl_target_raw": stats["kl_target_raw"],
            "tokens_selected": stats["tokens_selected"],
            "n_selected": stats["n_selected"],
        }
        print(
            f"KL reduction {label:10s} {stats['kl_reduction']:+.4f} "
            f"(KL target||raw {stats['kl_target_raw']:.4f}, {stats['n_selected']} docs)",
            flush=True,
        )
    seeds = [
        select(cc, SelectionSpec(method="random", tokens=budget, seed=s), workspace=ws).stats["kl_reduction"]
        for s in range(1, 6)
    ]
    kl["random_seeds_1_5"] = {"mean": float(np.mean(seeds)), "std": float(np.std(seeds))}
    quality["kl_reduction_at_30pct_tokens"] = kl
    print(json.dumps(quality["fasttext"]), flush=True)

    result = {
        "rows": rows,
        "quality": quality,
        "docs": n,
        "budget_tokens": budget,
        "reference": f"wiki_leads(train): {wiki_leads('train').num_rows} leads",
        "threads": 1,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print("\n| scorer | fast | docs/CPU-s | reference | docs/CPU-s | ratio |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scorer']} | {r['fast']} | {r['fast_docs_per_cpu_s']:.1f} | {r['reference']} | "
            f"{r['reference_docs_per_cpu_s']:.1f} | {r['ratio']:.1f}x |"
        )
    return 0


def _dsir_reference_weights(model, texts: list[str]) -> list[float]:
    """Importance weights the straightforward way: Python-loop features, then a dot product per document."""
    from tasks.selection import dsir

    ratio = model.log_target - model.log_raw
    counts = dsir.hashed_ngram_counts_reference(texts, model.buckets, model.ngrams)
    return [float(counts[i].toarray().ravel() @ ratio) for i in range(len(texts))]


if __name__ == "__main__":
    raise SystemExit(main())
