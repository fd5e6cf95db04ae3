"""Per-stage cost per million documents: CPU seconds, peak memory, bytes written.

    PYTHONPATH=$PWD python bench/stage_costs.py [--out docs/stage_costs.json] [--embed-docs 500]

Input: a fixed real sample, both crawl files of ../shared/data/crawl ingested as one
source of two shards: webpages-trafilatura-aeb.warc.gz (1,214 HTML responses) and
CC-MAIN-2019-30-sample.jsonl.gz (697 Common Crawl documents, already text). Every later
stage reads the documents that ingest wrote.

Each stage runs in a fresh subprocess, single process, one thread (OMP, BLAS, Polars,
Rayon, tokenizers, torch and DuckDB are all pinned to 1), calling the tasks/ functions
directly (no Prefect, no Dask) on one temporary Workspace shared by the stages.
The child first does the stage's one-time setup (imports; fitting or loading its model,
tokenizer or n-gram index), then the measured work. Reported per stage:
  work CPU s   user+system CPU of the measured part (the child process and its children)
  setup CPU s  the one-time part before it (not scaled: paid once per worker or per run)
  peak RSS     the child's high-water mark (VmHWM; os.wait4's ru_maxrss agrees), MiB
  bytes        bytes the measured part added to the workspace
Per million documents = value / documents processed x 1e6: a linear extrapolation.
That holds for the per-shard stages; the MinHash band join is not purely per-document
(see docs/scaling.md).

Memory against shard size (docs/scaling.md, "Memory per worker against shard size"):

    PYTHONPATH=$PWD python bench/stage_costs.py --workspace W --stages --shard-docs 2000 10000 35000

replicates the ingested sample into one docs shard of N documents for each N (new unique
doc_ids, texts unchanged, or with --vary words a per-copy word suffix so the vocabulary
grows), runs the per-shard stages on it (SHARD_STAGES; a source-level fit is its own
child, as on a cluster) and fits peak RSS = fixed + slope x N by least squares. Run the
default stages in W first (or in the same call) so that shared caches (decontamination
index, reference LMs, tokenizer) are built outside the measured children.
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
    "ARROW_NUM_THREADS",
):
    os.environ[_var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCE = "sample"
EMBED_SOURCE = "sample-embed"
STAGES = (
    "ingest",
    "signals",
    "minhash",
    "dedup",
    "decontam",
    "fasttext",
    "dsir",
    "perplexity",
    "kenlm",
    "embeddings",
    "doc_tokens",
    "tokenize",
)
# The per-shard stages that --shard-docs runs on one replicated shard of N documents, in
# this order. A `<method>_fit` stage fits the source-level model on the N documents (a
# one-time task on a cluster); the scoring stage after it only loads that model.
SHARD_STAGES = (
    "signals",
    "minhash",
    "decontam",
    "fasttext_fit",
    "fasttext",
    "dsir_fit",
    "dsir",
    "perplexity",
    "kenlm",
    "doc_tokens",
    "tokenize",
    "embeddings",  # not in the default --shard-stages: ~0.09 CPU s per document
)
CHILD_STAGES = STAGES + ("fasttext_fit", "dsir_fit")


@dataclass
class StageCost:
    stage: str
    docs: int
    work_cpu_s: float
    setup_cpu_s: float
    wall_s: float
    peak_rss_mib: float
    bytes_written: int
    note: str = ""

    def per_million(self) -> dict[str, float]:
        f = 1e6 / self.docs
        return {
            "cpu_s": self.work_cpu_s * f,
            "cpu_h": self.work_cpu_s * f / 3600,
            "gib_written": self.bytes_written * f / 2**30,
        }


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------- the stages (in the child)
# Each returns (setup, work): setup() runs first and is not measured; work() returns
# (documents processed, note).

Work = Callable[[], tuple[int, str]]


def _ws():
    from tasks.core.workspace import Workspace

    return Workspace.from_env(os.environ["WINNOW_HOME"])


def _ref(name: str = SOURCE):
    from tasks.core.docsref import resolve_docs

    return resolve_docs(_ws(), name)


def stage_ingest(ctx: dict) -> Work:
    from tasks.core.paths import shared_data
    from tasks.ingest.ingest import IngestOptions, finish_source, ingest_shard
    from tasks.ingest.langid import identify
    from tasks.ingest.sources import describe

    identify("warm up the language model")
    crawl = shared_data() / "crawl"
    files = [describe(str(crawl / n)) for n in ("webpages-trafilatura-aeb.warc.gz", "CC-MAIN-2019-30-sample.jsonl.gz")]
    ws = _ws()
    key = "bench-sample"

    def work() -> tuple[int, str]:
        out = ws.stage_dir("docs", key)
        counts = [ingest_shard(f, out, i, IngestOptions(), SOURCE) for i, f in enumerate(files)]
        info = finish_source(ws, key, SOURCE, counts, [f.uri for f in files])
        read = sum(c["records_read"] for c in counts)
        return info["counts"]["docs_written"], f"{read} records read"

    return work


def _src(ctx: dict) -> str:
    return ctx.get("source", SOURCE)


def stage_signals(ctx: dict) -> Work:
    from tasks.signals.computer import get_computer
    from tasks.signals.signals import build_signals

    get_computer()
    ws, ref = _ws(), _ref(_src(ctx))

    def work() -> tuple[int, str]:
        build_signals(ws, ref)
        return _docs(ref), ""

    return work


def _docs(ref) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in ref.shards)


def _dedup_spec():
    from tasks.dedup.spec import DedupSpec

    return DedupSpec(minhash=True)


def stage_minhash(ctx: dict) -> Work:
    from tasks.dedup.signatures import ensure_signatures, minhash_config

    ws, ref, spec = _ws(), _ref(_src(ctx)), _dedup_spec()

    def work() -> tuple[int, str]:
        ensure_signatures(ws, ref, minhash_config(spec.minhash))
        cfg = minhash_config(spec.minhash)
        return _docs(ref), f"{cfg.num_bands} bands x {cfg.rows_per_band} rows"

    return work


def stage_dedup(ctx: dict) -> Work:
    from tasks.dedup.dedup import run_dedup

    ws, ref, spec = _ws(), _ref(), _dedup_spec()

    def work() -> tuple[int, str]:
        result = run_dedup(ws, [ref], spec, threads=1)
        mh = result.stats.get("minhash", {})
        removed = sum(result.stats["removed"].values())
        return _docs(ref), f"{mh.get('candidate_pairs', '?')} candidate pairs, {removed} removed"

    return work


def stage_decontam(ctx: dict) -> Work:
    from tasks.decontam.decontaminate import decontaminate_parquet
    from tasks.decontam.index import cached_index, default_eval_items

    ws, ref = _ws(), _ref(_src(ctx))
    items = default_eval_items()
    index = cached_index(ws, items)

    def work() -> tuple[int, str]:
        report = decontaminate_parquet(ref.shards, ws.root / f"bench-decontam-{ref.source_key}", index)
        return report["docs_scanned"], f"{items.num_rows} eval items, {report['docs_contaminated']} contaminated"

    return work


def _scoring(method: str, source: str = SOURCE, model_key: str | None = None) -> Work:
    from tasks.selection.selection import finish_scores, load_scorer, prepare_model, score_shard
    from tasks.selection.spec import SelectionSpec

    ws, ref = _ws(), _ref(source)
    spec = SelectionSpec(method=method)
    # The fit is one-time setup; with --shard-docs it ran in its own child (`<method>_fit`),
    # as on a cluster, where one task fits and the workers only load the model.
    model_key = model_key or prepare_model(ws, ref, spec)
    load_scorer(ws, model_key, spec)  # load (and cache) the model outside the measured part

    def work() -> tuple[int, str]:
        t0 = time.time()
        n = sum(score_shard(ws, ref, spec, i, model_key) for i in range(len(ref.shards)))
        finish_scores(ws, ref, spec, model_key, n, time.time() - t0)
        return n, ""

    return work


def stage_fasttext(ctx: dict) -> Work:
    return _scoring("fasttext", _src(ctx), ctx.get("fasttext_model"))


def stage_dsir(ctx: dict) -> Work:
    return _scoring("dsir", _src(ctx), ctx.get("dsir_model"))


def stage_perplexity(ctx: dict) -> Work:
    return _scoring("perplexity", _src(ctx), ctx.get("perplexity_model"))


def stage_kenlm(ctx: dict) -> Work:
    return _scoring("kenlm", _src(ctx), ctx.get("kenlm_model"))


def _fit(method: str, ctx: dict) -> Work:
    from tasks.selection.selection import prepare_model
    from tasks.selection.spec import SelectionSpec

    ws, ref = _ws(), _ref(_src(ctx))
    spec = SelectionSpec(method=method)

    def work() -> tuple[int, str]:
        return _docs(ref), prepare_model(ws, ref, spec)  # the note carries the model key

    return work


def stage_fasttext_fit(ctx: dict) -> Work:
    return _fit("fasttext", ctx)


def stage_dsir_fit(ctx: dict) -> Work:
    return _fit("dsir", ctx)


def stage_embeddings(ctx: dict) -> Work:
    import pyarrow.parquet as pq
    import torch

    from tasks.core.docsref import docs_hash_of

    torch.set_num_threads(1)
    if "source" in ctx:  # --shard-docs: the whole replicated shard
        return _scoring("semdedup", ctx["source"])
    ws, ref = _ws(), _ref(SOURCE)
    key = "bench-sample-embed"
    folder = ws.stage_dir("docs", key)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shard-00000.parquet"
    pq.write_table(pq.read_table(ref.shards[0]).slice(0, ctx["embed_docs"]), path)
    ws.mark_done("docs", key, {"name": EMBED_SOURCE, "docs_hash": docs_hash_of([path]), "shards": [path.name]})
    return _scoring("semdedup", EMBED_SOURCE)


def stage_doc_tokens(ctx: dict) -> Work:
    from tasks.train.doc_tokens import doc_token_counts, suite_tokenizer

    ws, ref = _ws(), _ref(_src(ctx))
    tok = suite_tokenizer(ws, ctx["vocab"])

    def work() -> tuple[int, str]:
        doc_token_counts(ws, ref, tok)
        return _docs(ref), f"vocabulary {ctx['vocab']}"

    return work


def stage_tokenize(ctx: dict) -> Work:
    from tasks.train.doc_tokens import suite_tokenizer
    from tasks.train.tokens import tokenize_part

    ws, ref = _ws(), _ref(_src(ctx))
    tok = suite_tokenizer(ws, ctx["vocab"])

    def work() -> tuple[int, str]:
        tokens = 0
        for part in ref.shards:
            s = tokenize_part(part, tok.folder, ws.root / f"bench-tokens-{ref.source_key}")
            tokens += int(s["n_tokens"])
        return _docs(ref), f"{tokens:,} tokens"

    return work


def child(stage: str, ctx: dict) -> None:
    c0 = _cpu()
    work = globals()[f"stage_{stage}"](ctx)
    setup_cpu = _cpu() - c0
    ws_root = Path(os.environ["WINNOW_HOME"])
    b0 = _tree_bytes(ws_root)
    c1, t1 = _cpu(), time.perf_counter()
    docs, note = work()
    cost = StageCost(
        stage=stage,
        docs=docs,
        work_cpu_s=_cpu() - c1,
        setup_cpu_s=setup_cpu,
        wall_s=time.perf_counter() - t1,
        peak_rss_mib=_vm_hwm_mib(),
        bytes_written=_tree_bytes(ws_root) - b0,
        note=note,
    )
    print("RESULT " + json.dumps(asdict(cost)))


# ---------------------------------------------------------------- the driver


def run_stage(stage: str, ws: Path, ctx: dict, timeout: float) -> StageCost | str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WINNOW_HOME": str(ws)}
    cmd = [sys.executable, __file__, "--child", stage, "--ctx", json.dumps(ctx)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        t0 = time.monotonic()
        while True:  # os.wait4: this child's own rusage (peak RSS), not the max over all children
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                return f"timed out after {timeout:.0f} s"
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            tail = err.read()[-1500:]
            return f"failed (exit {proc.returncode}): {tail.strip().splitlines()[-1] if tail.strip() else ''}"
    cost = StageCost(**json.loads(lines[0][7:]))
    cost.peak_rss_mib = max(cost.peak_rss_mib, usage.ru_maxrss / 1024)
    return cost


def markdown(costs: list[StageCost], failed: dict[str, str]) -> str:
    lines = [
        "| stage | docs | work CPU s | setup CPU s | peak RSS MiB | MB written | "
        "CPU s / 1M docs | CPU h / 1M docs | GiB written / 1M docs | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in costs:
        pm = c.per_million()
        lines.append(
            f"| {c.stage} | {c.docs:,} | {c.work_cpu_s:.1f} | {c.setup_cpu_s:.1f} | {c.peak_rss_mib:,.0f} | "
            f"{c.bytes_written / 1e6:.1f} | {pm['cpu_s']:,.0f} | {pm['cpu_h']:.2f} | {pm['gib_written']:.2f} | "
            f"{c.note} |"
        )
    for stage, why in failed.items():
        lines.append(f"| {stage} | – | – | – | – | – | – | – | – | {why} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- --shard-docs: memory against shard size

_WORD = re.compile(r"[^\W\d_]+")


def _copy_tag(k: int) -> str:
    """Copy k > 0 as lowercase letters (bijective base 26: 1 -> 'a', 27 -> 'aa'): a word
    suffix that keeps words alphabetic, so tokenisation and the word filters see words."""
    out = ""
    while k > 0:
        k, r = divmod(k - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def replicate_docs(base, n: int, vary: str = "none"):
    """n documents from the `base` docs table: row i is base row i % len(base), copy
    k = i // len(base). Every row gets a new unique doc_id (xxh3-128 of the original id and
    k); copy 0 keeps its id. With vary="words", every word of copy k > 0 gets the suffix
    _copy_tag(k), so each copy brings the base's whole vocabulary anew."""
    import numpy as np
    import pyarrow as pa
    import xxhash

    if base.num_rows == 0 or n <= 0:
        raise ValueError(f"replicate_docs: need documents to copy and n > 0 (base {base.num_rows} rows, n {n})")
    idx = np.arange(n) % base.num_rows
    out = base.take(pa.array(idx))
    ids = out.column("doc_id").to_pylist()
    copy = np.arange(n) // base.num_rows
    new_ids = [d if k == 0 else xxhash.xxh3_128_hexdigest(f"{d}\x00copy {k}".encode()) for d, k in zip(ids, copy)]
    if len(set(new_ids)) != n:
        raise ValueError("replicate_docs: doc_ids are not unique (the base has duplicate doc_ids)")
    out = out.set_column(out.schema.get_field_index("doc_id"), "doc_id", pa.array(new_ids, pa.string()))
    if vary == "words":
        texts = out.column("text").to_pylist()
        for i, k in enumerate(copy.tolist()):
            if k and texts[i]:
                texts[i] = _WORD.sub(r"\g<0>" + _copy_tag(k), texts[i])
        out = out.set_column(out.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))
        chars = pa.array([len(t) if t is not None else 0 for t in texts], out.schema.field("n_chars").type)
        out = out.set_column(out.schema.get_field_index("n_chars"), "n_chars", chars)
    elif vary != "none":
        raise ValueError(f"replicate_docs: unknown vary {vary!r} (none, words)")
    return out


def write_replica(ws: Path, n: int, vary: str) -> tuple[str, dict[str, float]]:
    """One docs shard of n documents replicated from the ingested sample, as a finished
    ingest in the workspace (the same Parquet layout as ingest: zstd, row groups of 512)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.core.docsref import docs_hash_of, resolve_docs
    from tasks.core.workspace import Workspace

    w = Workspace.from_env(str(ws))
    base_ref = resolve_docs(w, "bench-sample")
    base = pa.concat_tables([pq.read_table(p) for p in base_ref.shards])
    table = replicate_docs(base, n, vary)
    name = f"{SOURCE}-x{n}" + ("" if vary == "none" else f"-{vary}")
    key = f"bench-{name}"
    folder = w.stage_dir("docs", key)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shard-00000.parquet"
    pq.write_table(table, path, compression="zstd", row_group_size=512)
    w.mark_done("docs", key, {"name": name, "docs_hash": docs_hash_of([path]), "shards": [path.name]})
    text_bytes = sum(len(t.encode()) for t in table.column("text").to_pylist() if t)
    return name, {"text_mb": text_bytes / 1e6, "file_mb": path.stat().st_size / 1e6, "base_docs": base.num_rows}


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x: (a, b, largest absolute residual)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    a = my - b * mx
    return a, b, max(abs(y - a - b * x) for x, y in zip(xs, ys))


def shard_sizes(ws: Path, ctx: dict, sizes: list[int], stages: list[str], vary: str, timeout: float, out: str) -> None:
    runs: list[dict[str, Any]] = []
    for n in sizes:
        load0 = os.getloadavg()
        name, info = write_replica(ws, n, vary)
        print(f"shard of {n:,} docs ({info['text_mb']:.0f} MB of text), vary={vary}", file=sys.stderr, flush=True)
        sctx = {**ctx, "source": name}
        for stage in stages:
            r = run_stage(stage, ws, sctx, timeout)
            row: dict[str, Any] = {"stage": stage, "shard_docs": n, "vary": vary, **info}
            if isinstance(r, str):
                row["failed"] = r
                print(f"  {stage}: {r}", file=sys.stderr, flush=True)
            else:
                row.update(asdict(r))
                if stage.endswith("_fit"):  # the scoring stage after it loads this model
                    sctx[stage.removesuffix("_fit") + "_model"] = r.note
                print(
                    f"  {stage}: {r.docs} docs, {r.work_cpu_s:.1f} CPU s (+{r.setup_cpu_s:.1f} setup), "
                    f"{r.peak_rss_mib:.0f} MiB peak",
                    file=sys.stderr,
                    flush=True,
                )
            runs.append(row)
        for row in runs:
            if row["shard_docs"] == n:
                row["loadavg_start"], row["loadavg_end"] = load0, os.getloadavg()
    fits: list[dict[str, Any]] = []
    for stage in stages:
        pts = [(r["shard_docs"], r["peak_rss_mib"]) for r in runs if r["stage"] == stage and "failed" not in r]
        if len(pts) < 2:
            continue
        a, b, resid = fit_line([p[0] / 1000 for p in pts], [p[1] for p in pts])
        fits.append(
            {
                "stage": stage,
                "sizes": [p[0] for p in pts],
                "peak_rss_mib": [round(p[1], 1) for p in pts],
                "fixed_mib": round(a, 1),
                "mib_per_1k_docs": round(b, 2),
                "gib_per_million_docs": round(b * 1000 / 1024, 2),
                "max_residual_mib": round(resid, 1),
            }
        )
    print(f"\n## Peak RSS against shard size (vary={vary})\n")
    print("| stage | " + " | ".join(f"{n:,} docs" for n in sizes) + " | fixed MiB | MiB / 1k docs | max residual |")
    print("|---|" + "---:|" * (len(sizes) + 3))
    for f in fits:
        by = dict(zip(f["sizes"], f["peak_rss_mib"]))
        cells = " | ".join(f"{by[n]:,.0f}" if n in by else "–" for n in sizes)
        print(
            f"| {f['stage']} | {cells} | {f['fixed_mib']:,.0f} | {f['mib_per_1k_docs']:.1f} | {f['max_residual_mib']:.0f} |"
        )
    Path(out).write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(sys.argv),
                "cpus": os.cpu_count(),
                "vary": vary,
                "fits": fits,
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--stages",
        nargs="*",
        default=list(STAGES),
        choices=STAGES,
        help="stages on the ingested sample (default: all); with --shard-docs, keep the ones that build the "
        "shared caches (ingest, decontam, perplexity, kenlm, doc_tokens) or reuse a --workspace where they ran",
    )
    ap.add_argument("--embed-docs", type=int, default=500, help="documents for the (slow) embedding stage")
    ap.add_argument("--vocab", type=int, default=4096, help="suite tokenizer vocabulary (default: the nano preset's)")
    ap.add_argument(
        "--workspace",
        help="reuse this workspace to rerun single stages after ingest (a stage already done there is served from its cache and measures ~0: delete its output first); default: a new one",
    )
    ap.add_argument("--stage-timeout", type=float, default=600, help="seconds per stage before it is killed")
    ap.add_argument("--out", default=str(ROOT / "docs" / "stage_costs.json"))
    ap.add_argument(
        "--shard-docs",
        type=int,
        nargs="+",
        metavar="N",
        help="after --stages, replicate the ingested documents into one docs shard of N documents for each N "
        "and run the per-shard stages on it (--shard-stages): peak RSS against shard size",
    )
    ap.add_argument(
        "--shard-stages",
        nargs="+",
        default=[s for s in SHARD_STAGES if s != "embeddings"],
        choices=SHARD_STAGES,
        help="the stages run at each --shard-docs size (default: all but embeddings; a fastText or DSIR "
        "scoring stage needs its _fit stage before it)",
    )
    ap.add_argument(
        "--vary",
        choices=("none", "words"),
        default="none",
        help="what replication changes in a copy's text: none (texts unchanged, new doc_ids) or words "
        "(every word of copy k>0 gets a copy suffix, so the vocabulary grows linearly: the worst case "
        "for the signals word cache)",
    )
    ap.add_argument(
        "--shard-out", default=str(ROOT / "docs" / "stage_costs_shard_sizes.json"), help="--shard-docs results"
    )
    ap.add_argument("--child", choices=CHILD_STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--ctx", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(a.child, json.loads(a.ctx))
        return 0
    ctx: dict[str, Any] = {"embed_docs": a.embed_docs, "vocab": a.vocab}
    ws = Path(a.workspace) if a.workspace else Path(tempfile.mkdtemp(prefix="winnow-stage-costs-"))
    stages = list(a.stages)
    if "ingest" not in stages and not (ws / "docs" / "bench-sample").is_dir():
        raise SystemExit(f"every stage reads what ingest wrote: keep 'ingest' in --stages or reuse a workspace ({ws})")
    costs: list[StageCost] = []
    failed: dict[str, str] = {}
    for stage in stages:
        r = run_stage(stage, ws, ctx, a.stage_timeout)
        if isinstance(r, str):
            failed[stage] = r
            print(f"  {stage}: {r}", file=sys.stderr, flush=True)
            continue
        costs.append(r)
        print(
            f"  {stage}: {r.docs} docs, {r.work_cpu_s:.1f} CPU s (+{r.setup_cpu_s:.1f} setup), "
            f"{r.peak_rss_mib:.0f} MiB peak, {r.bytes_written / 1e6:.1f} MB",
            file=sys.stderr,
            flush=True,
        )
    if a.shard_docs:
        shard_sizes(ws, ctx, sorted(set(a.shard_docs)), list(a.shard_stages), a.vary, a.stage_timeout, a.shard_out)
        if not stages:
            return 0
    load = os.getloadavg()
    print(
        f"\n## Stage costs ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load[0]:.1f}, workspace {ws})\n"
    )
    print(markdown(costs, failed))
    Path(a.out).write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "loadavg": load,
                "cpus": os.cpu_count(),
                "stages": [{**asdict(c), "per_million": c.per_million()} for c in costs],
                "failed": failed,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
