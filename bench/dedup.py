"""Near-duplicate detection speed and accuracy against the peers, in one run.

    PYTHONPATH=$PWD python bench/dedup.py [--docs 2000] [--scale 100000,300000] [--out docs]

1. Throughput, single core, same input: winnow (signatures + LSH pairs + clustering),
   datatrove's MinHash pipeline (its 4 stages: signatures, buckets, cluster, filter;
   LocalPipelineExecutor, 1 worker) and datasketch MinHashLSH (MinHash per document,
   insert + query, union-find). Documents per CPU-second; ratio against each peer.
2. The S-curve: detection probability vs exact Jaccard on real documents with planted
   edits, against the theoretical 1 - (1 - s^r)^b; a PNG.
3. Scale: time and peak memory (fresh process each) of signatures and clustering at
   the given sizes (real documents repeated and mutated).
4. The signature stage alone against rensa (Rust MinHash): the same documents (the
   real ones, then mutated copies), the same datatrove normalisation (winnow's), the
   same word 5-gram shingles, 112 permutations, batches of 2,000 documents as in
   compute_shard. CPU seconds (process_time: fair on a shared machine), median of
   --sig-rounds rounds. rensa is timed twice: with the normalisation (the same stage
   as winnow's: text in, signatures out) and on pre-normalised text (its hashing alone).

    PYTHONPATH=$PWD python bench/dedup.py --only-signatures [--sig-docs 20000]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.dedup.minhash import MinhashConfig, MinHasher  # noqa: E402
from tests.dedup_helpers import cc_texts, docs_table, mutate, true_similar_pairs, write_source  # noqa: E402


def real_texts() -> list[str]:
    from tasks.core.reference import wiki_leads

    return cc_texts() + wiki_leads("train").column("text").to_pylist()


def corpus(n: int, seed: int = 0) -> list[str]:
    """n documents: the real ones, then mutated copies of them (about a third near
    duplicates of another document, as in web crawls)."""
    base = real_texts()
    rng = np.random.default_rng(seed)
    out = list(base[:n])
    while len(out) < n:
        src = base[rng.integers(len(base))]
        strength = rng.uniform(0.0, 0.3) if rng.random() < 0.35 else rng.uniform(0.5, 1.0)
        out.append(mutate(src, strength, base[rng.integers(len(base))], rng))
    return out


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w, time.process_time() - c


# ---------------------------------------------------------------- 1. throughput


def run_winnow(shard_dir: Path, verify: str) -> tuple[dict, float, float]:
    from tasks.core.workspace import Workspace
    from tasks.dedup.dedup import run_dedup
    from tasks.dedup.spec import DedupSpec

    ws = Workspace.from_env(shard_dir.parent / f"ws-{verify}")
    ref = write_source(ws, "bench", _read_table(shard_dir))
    spec = DedupSpec(minhash={"verify": verify})
    result, wall, cpu = timed(lambda: run_dedup(ws, [ref], spec, threads=1))
    return result.stats, wall, cpu


def _read_table(shard_dir: Path):
    import pyarrow.parquet as pq

    return pq.read_table(shard_dir / "docs.parquet")


def run_datatrove(shard_dir: Path) -> tuple[dict, float, float]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import MinhashConfig as DtConfig
    from datatrove.pipeline.dedup.minhash import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.utils.hashing import HashConfig

    work = shard_dir / "datatrove"
    cfg = DtConfig(hash_config=HashConfig(precision=64))
    reader = lambda: ParquetReader(str(shard_dir), glob_pattern="docs.parquet", id_key="doc_id")  # noqa: E731
    stages = [
        ("signatures", [reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)], 1),
        (
            "buckets",
            [MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=cfg)],
            cfg.num_buckets,
        ),
        ("cluster", [MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/ids", config=cfg)], 1),
        ("filter", [reader(), MinhashDedupFilter(input_folder=f"{work}/ids")], 1),
    ]
    per_stage = {}
    w0, c0 = time.perf_counter(), time.process_time()
    for name, pipeline, tasks in stages:
        _, wall, cpu = timed(
            lambda: LocalPipelineExecutor(
                pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{work}/logs/{name}", skip_completed=False
            ).run()
        )
        per_stage[name] = round(cpu, 2)
    removed = sum(1 for _ in _datatrove_removed(work / "ids"))
    return {"per_stage_cpu_s": per_stage, "removed": removed}, time.perf_counter() - w0, time.process_time() - c0


def _datatrove_removed(ids: Path):
    import struct

    for f in ids.glob("*.remove"):
        data = f.read_bytes()
        yield from struct.iter_unpack("<I", data)


def run_datasketch(texts: list[str]) -> tuple[dict, float, float]:
    from datasketch import MinHash, MinHashLSH
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from tasks.dedup.minhash import normalize_texts

    def work():
        lsh = MinHashLSH(num_perm=112, params=(14, 8))
        edges = []
        norm = normalize_texts(texts)  # the same (datatrove) normalisation, vectorised
        for i, t in enumerate(norm):
            words = t.split()
            grams = {" ".join(words[j : j + 5]).encode() for j in range(max(1, len(words) - 4))} if words else set()
            if not grams:
                continue
            m = MinHash(num_perm=112, seed=1)
            m.update_batch(list(grams))
            for j in lsh.query(m):
                edges.append((i, j))
            lsh.insert(i, m)
        a = np.array([e[0] for e in edges], dtype=np.int64)
        b = np.array([e[1] for e in edges], dtype=np.int64)
        g = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(texts), len(texts)))
        n_comp, labels = connected_components(g, directed=False)
        return {"removed": int(len(texts) - n_comp), "pairs": len(edges)}

    return timed(work)


def throughput(n: int, tmp: Path) -> dict:
    import pyarrow.parquet as pq

    texts = corpus(n, seed=1)
    shard_dir = tmp / "input"
    shard_dir.mkdir(parents=True)
    pq.write_table(docs_table(texts), shard_dir / "docs.parquet")
    res = {"docs": n, "mean_chars": int(np.mean([len(t) for t in texts]))}
    for verify in ("none", "exact"):
        stats, wall, cpu = run_winnow(shard_dir, verify)
        res[f"winnow_verify_{verify}"] = {
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "docs_per_cpu_s": round(n / cpu),
            "removed": stats["removed"]["minhash"],
        }
    stats, wall, cpu = run_datatrove(shard_dir)
    res["datatrove"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "docs_per_cpu_s": round(n / cpu), **stats}
    stats, wall, cpu = run_datasketch(texts)
    res["datasketch"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "docs_per_cpu_s": round(n / cpu), **stats}
    ours = res["winnow_verify_none"]["docs_per_cpu_s"]
    res["ratio_vs_datatrove"] = round(ours / res["datatrove"]["docs_per_cpu_s"], 1)
    res["ratio_vs_datasketch"] = round(ours / res["datasketch"]["docs_per_cpu_s"], 1)
    res["ratio_vs_datatrove_with_exact_verify"] = round(
        res["winnow_verify_exact"]["docs_per_cpu_s"] / res["datatrove"]["docs_per_cpu_s"], 1
    )
    return res


# ---------------------------------------------------------------- 4. signature stage vs rensa


def _shingles(text: str, n: int) -> list[str]:
    """Word n-gram strings of one normalised text (short texts: one shingle, as winnow)."""
    words = text.split(" ") if text else []
    return [" ".join(words[j : j + n]) for j in range(max(1, len(words) - n + 1))] if words else []


def signature_stage(n_docs: int, rounds: int, batch: int = 2000) -> dict:
    from rensa import RMinHash

    from tasks.dedup.minhash import normalize_texts

    cfg = MinhashConfig()
    texts = corpus(n_docs, seed=1)
    batches = [texts[i : i + batch] for i in range(0, n_docs, batch)]
    hasher = MinHasher(cfg)
    pre = [normalize_texts(b, cfg) for b in batches]  # for rensa's hashing-only timing

    def winnow():
        for b in batches:
            hasher.signatures(b)

    def rensa_update(normalised=None):
        for i, b in enumerate(batches):
            for t in pre[i] if normalised else normalize_texts(b, cfg):
                m = RMinHash(num_perm=cfg.num_perm, seed=cfg.seed)
                m.update(_shingles(t, cfg.n_grams))
                m.digest()

    def rensa_bulk(normalised=None):
        for i, b in enumerate(batches):
            norm = pre[i] if normalised else normalize_texts(b, cfg)
            RMinHash.digest_matrix_from_token_sets([_shingles(t, cfg.n_grams) for t in norm], cfg.num_perm, cfg.seed)

    runs = {
        "winnow": winnow,
        "rensa_update": rensa_update,
        "rensa_bulk": rensa_bulk,
        "rensa_update_hashing_only": lambda: rensa_update(True),
        "rensa_bulk_hashing_only": lambda: rensa_bulk(True),
    }
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):  # interleaved, so load changes hit every contender alike
        for name, fn in runs.items():
            cpu[name].append(timed(fn)[2])
    rate = {k: round(n_docs / float(np.median(v))) for k, v in cpu.items()}
    spread = {k: [round(n_docs / max(v)), round(n_docs / min(v))] for k, v in cpu.items()}
    best_stage = max(rate["rensa_update"], rate["rensa_bulk"])
    best_hashing = max(rate["rensa_update_hashing_only"], rate["rensa_bulk_hashing_only"])
    import rensa

    return {
        "docs": n_docs,
        "rounds": rounds,
        "mean_chars": int(np.mean([len(t) for t in texts])),
        "rensa_version": getattr(rensa, "__version__", None) or _dist_version("rensa"),
        "docs_per_cpu_s_median": rate,
        "docs_per_cpu_s_min_max": spread,
        "rensa_ratio": round(rate["winnow"] / best_stage, 2),
        "rensa_ratio_vs_hashing_only": round(rate["winnow"] / best_hashing, 2),
    }


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


# ---------------------------------------------------------------- 2. S-curve


def s_curve(png: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = real_texts()[:1500]
    rng = np.random.default_rng(3)
    planted = []
    for i in rng.choice(len(base), 1200, replace=False):
        if len(base[i].split()) >= 40:
            planted.append(mutate(base[i], rng.uniform(0.0, 0.6), base[rng.integers(len(base))], rng))
    texts = base + planted
    cfg = MinhashConfig()
    _, all_pairs = true_similar_pairs(texts, cfg, 1.0)
    pairs = np.array([p for p, j in all_pairs.items() if j >= 0.3])
    jac = np.array([all_pairs[tuple(p)] for p in pairs])
    hasher = MinHasher(cfg)
    sig, n_sh = hasher.signatures(texts)
    bands = hasher.band_hashes(sig)
    detected = (bands[pairs[:, 0]] == bands[pairs[:, 1]]).any(axis=1)
    edges = np.linspace(0.3, 1.0, 15)
    centers, rates, counts = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (jac >= lo) & ((jac < hi) | (hi == 1.0))
        if m.sum():
            centers.append((lo + hi) / 2)
            rates.append(float(detected[m].mean()))
            counts.append(int(m.sum()))
    s = np.linspace(0, 1, 200)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(s, cfg.detection_probability(s), label=f"theory 1-(1-s^{cfg.rows_per_band})^{cfg.num_bands}")
    ax.scatter(centers, rates, color="C1", zorder=3, label="measured (real docs, planted edits)")
    ax.axvline(0.8, color="grey", ls=":", lw=1)
    ax.set_xlabel("exact Jaccard of word 5-gram sets")
    ax.set_ylabel("P(candidate pair)")
    ax.set_title(f"MinHash LSH S-curve ({len(pairs):,} pairs)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    return {
        "pairs": int(len(pairs)),
        "bins": [
            {"jaccard": round(c, 3), "detected": round(r, 3), "pairs": k} for c, r, k in zip(centers, rates, counts)
        ],
    }


# ---------------------------------------------------------------- 3. scale


def scale_phase(phase: str, n: int, tmp: Path) -> dict:
    """One phase of one size, in a fresh process so that its peak RSS is its own."""
    from tasks.core.docsref import resolve_docs
    from tasks.core.workspace import Workspace
    from tasks.dedup.dedup import run_dedup
    from tasks.dedup.signatures import ensure_signatures, minhash_config
    from tasks.dedup.spec import DedupSpec

    ws = Workspace.from_env(tmp / f"scale-{n}")
    spec = DedupSpec(minhash={"verify": "none"})
    if phase == "build":
        texts = corpus(n, seed=2)
        table = docs_table(texts)
        del texts
        _, wall, cpu = timed(lambda: write_source(ws, "scale", table, shards=max(1, n // 50_000)))
        out = {"wall_s": round(wall, 1), "mean_chars": round(pc_mean(table.column("n_chars")))}
    elif phase == "signatures":
        ref = resolve_docs(ws, "scale")
        _, wall, cpu = timed(lambda: ensure_signatures(ws, ref, minhash_config(spec.minhash)))
        disk = sum(p.stat().st_size for p in (ws.root / "signals").rglob("*.parquet"))
        out = {
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "docs_per_cpu_s": round(n / cpu),
            "signals_mib_on_disk": round(disk / 2**20, 1),
        }
    elif phase.startswith("partition-p"):  # one band_hash range of N alone: what one worker holds
        from tasks.dedup.near import partition_clusters, partition_jobs

        ref = resolve_docs(ws, "scale")
        parts = int(phase.split("-p")[1])
        job = partition_jobs(ws, [ref], [], spec, parts)[0]
        part, wall, cpu = timed(lambda: partition_clusters(job))
        bands = sum(Path(p).stat().st_size for p in job.band_files.column("path").to_pylist())
        out = {
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "band_rows_read": part.band_rows_read,
            "band_bytes_read": part.band_bytes_read,
            "band_file_bytes": bands,
            "nodes": len(part.nodes),
        }
    else:  # clusters, or clusters-pN: candidate pairs in N band-hash partitions
        ref = resolve_docs(ws, "scale")
        parts = int(phase.split("-p")[1]) if "-p" in phase else 1
        result, wall, cpu = timed(lambda: run_dedup(ws, [ref], spec, partitions=parts, force=True))
        m = result.stats["minhash"]
        out = {
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "candidate_pairs": m["candidate_pairs"],
            "removed": result.stats["removed"]["minhash"],
            "band_rows_read": m.get("band_rows_read"),
            "band_bytes_read": m.get("band_bytes_read"),
        }
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def peak_rss_mib() -> int:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def pc_mean(col) -> float:
    import pyarrow.compute as pc

    return pc.mean(col).as_py() or 0.0


def _baseline_rss() -> int:
    """Peak RSS of a process that only imports what the phases import (MiB)."""
    import tasks.dedup.dedup  # noqa: F401

    return peak_rss_mib()


def _sub(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench phase {args} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=2000, help="documents for the peer comparison")
    p.add_argument("--scale", default="100000,300000", help="comma-separated sizes for the scale runs ('' = none)")
    p.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNG and the JSON results")
    p.add_argument("--skip-peers", action="store_true", help="only the S-curve and scale runs")
    p.add_argument("--sig-docs", type=int, default=20000, help="documents for the signature stage vs rensa")
    p.add_argument("--sig-rounds", type=int, default=5, help="rounds of the signature stage (median)")
    p.add_argument("--only-signatures", action="store_true", help="only the signature stage vs rensa")
    p.add_argument("--only-scale", action="store_true", help="only the scale runs (--scale)")
    p.add_argument("--scale-run", type=int, default=None, help=argparse.SUPPRESS)  # internal: one size
    p.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    p.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase == "baseline":
        print(json.dumps({"peak_rss_mib": _baseline_rss()}))
        return
    if args.scale_run:
        print(json.dumps(scale_phase(args.phase, args.scale_run, Path(args.tmp))))
        return
    out = Path(args.out)
    results: dict = {}
    if args.only_scale:
        args.skip_peers = True
    if args.only_signatures or not args.skip_peers:
        results["signature_stage"] = signature_stage(args.sig_docs, args.sig_rounds)
        print(json.dumps(results["signature_stage"], indent=1), flush=True)
        _print_rensa(results["signature_stage"])
    if args.only_signatures:
        _save(out, results)
        return
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        tmp = Path(tmp)
        if not args.skip_peers:
            results["throughput"] = throughput(args.docs, tmp)
            print(json.dumps(results["throughput"], indent=1), flush=True)
        if not args.only_scale:
            results["s_curve"] = s_curve(out / "dedup_scurve.png")
            print(json.dumps(results["s_curve"]), flush=True)
        sizes = [int(x) for x in args.scale.split(",") if x.strip()]
        results["scale"] = {"baseline_rss_mib": _sub(["--phase", "baseline"])["peak_rss_mib"]} if sizes else {}
        for n in sizes:
            row = {"docs": n}
            for phase in ("build", "signatures", "clusters", "clusters-p8", "partition-p8"):
                row[phase] = _sub(["--scale-run", str(n), "--phase", phase, "--tmp", str(tmp)])
            results["scale"][str(n)] = row
            print(json.dumps(row), flush=True)
            shutil.rmtree(tmp / f"scale-{n}", ignore_errors=True)
    _save(out, results)
    if "signature_stage" in results:
        _print_rensa(results["signature_stage"])
    if "throughput" in results:
        t = results["throughput"]
        print(
            f"\nwinnow {t['winnow_verify_none']['docs_per_cpu_s']} docs/CPU-s; "
            f"{t['ratio_vs_datatrove']}x datatrove, {t['ratio_vs_datasketch']}x datasketch "
            f"(with exact verification: {t['ratio_vs_datatrove_with_exact_verify']}x datatrove)"
        )


def _save(out: Path, results: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "dedup_bench.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**previous, **results}, indent=1))


def _print_rensa(r: dict) -> None:
    rate = r["docs_per_cpu_s_median"]
    print(
        f"\nsignature stage, {r['docs']} docs, median of {r['rounds']}: winnow {rate['winnow']} docs/CPU-s; "
        f"rensa {rate['rensa_update']} (RMinHash.update) / {rate['rensa_bulk']} (digest_matrix_from_token_sets); "
        f"rensa ratio (winnow / best rensa, same stage) {r['rensa_ratio']}; "
        f"vs rensa hashing pre-normalised text ({rate['rensa_update_hashing_only']} / "
        f"{rate['rensa_bulk_hashing_only']}): {r['rensa_ratio_vs_hashing_only']}",
        flush=True,
    )


if __name__ == "__main__":
    main()
