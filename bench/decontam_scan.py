"""The decontamination scan's cost per docs shard (tasks/decontam/scan.py `scan_shard`, the
Dask task of an ablation with --dask-address): CPU seconds and peak RSS of one worker.

    PYTHONPATH=$PWD python bench/decontam_scan.py WORKSPACE [--source sample] [--repeat 1 8 32]

WORKSPACE holds an ingested source (bench/stage_costs.py --stages ingest --workspace DIR
makes the fixed real sample: the shared crawl's WARC pages and CC-MAIN-2019-30 documents,
two shards). Each shard is scanned in a fresh single-threaded subprocess, as one worker
would: setup (imports, loading the workspace's eval n-gram index) is reported apart from
the scan itself. `--repeat K` also scans one shard made of every document of the source
K times over (same real texts, new doc ids), to show how a worker's peak memory grows with
shard size: the scan streams batches of `batch_rows` documents and keeps only the
contaminated ones, so it should not.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "ARROW_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_CHILD = """
import json, resource, sys, time
from pathlib import Path
t0 = time.process_time()
from tasks.decontam import scan as DS
job = DS.ScanJob(**{**json.loads(sys.argv[1]), "cfg": DS.ScanConfig(**json.loads(sys.argv[2]))})
DS._load_index(job.cfg.index_path)
setup = time.process_time() - t0
rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t1 = time.process_time()
out = DS.scan_shard(job).to_dict()
work = time.process_time() - t1
hwm = next(int(l.split()[1]) / 1024 for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
print("RESULT " + json.dumps({**out, "setup_cpu_s": setup, "work_cpu_s": work, "rss_after_setup_mib": rss_setup, "peak_rss_mib": hwm}))
"""


def run_child(job, cfg) -> dict:
    args = {"shard": job.shard, "index": job.index, "out_dir": job.out_dir}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cfg_json = json.dumps(cfg.__dict__)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(args), cfg_json], env=env, capture_output=True, text=True, timeout=900
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"scan of {job.shard} failed: {proc.stderr[-1500:]}")
    return json.loads(lines[0][7:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workspace")
    ap.add_argument("--source", default="sample")
    ap.add_argument("--repeat", type=int, nargs="*", default=[], help="also scan one shard of K copies of the source")
    ap.add_argument("--batch-rows", type=int, default=1000, help="documents per scan batch (bounds a worker's memory)")
    a = ap.parse_args(argv)

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tasks.core.docsref import resolve_docs
    from tasks.core.workspace import Workspace
    from tasks.decontam import scan as DS
    from tasks.decontam.index import default_eval_items
    from tasks.decontam.spec import DecontaminationSpec

    ws = Workspace.from_env(a.workspace)
    ref = resolve_docs(ws, a.source)
    cfg = dataclasses.replace(DS.scan_config(ws, default_eval_items(), DecontaminationSpec()), batch_rows=a.batch_rows)
    out = tempfile.mkdtemp(prefix="decontam-scan-bench-")
    jobs = [DS.ScanJob(str(p), i, out, cfg) for i, p in enumerate(ref.shards)]
    rows = []
    for job in jobs:
        rows.append({"shard": Path(job.shard).name, **run_child(job, cfg)})
    if a.repeat:
        source = pa.concat_tables([pq.read_table(p, columns=["doc_id", "text"]) for p in ref.shards])
        for k in a.repeat:
            copies = [
                source.set_column(0, "doc_id", pc.binary_join_element_wise(source["doc_id"], pa.scalar(f"#{c}"), ""))
                for c in range(k)
            ]
            path = Path(out) / f"repeat-{k}.parquet"
            pq.write_table(pa.concat_tables(copies), path, row_group_size=512, compression="zstd")  # as ingest writes
            rows.append({"shard": f"{k}x source", **run_child(DS.ScanJob(str(path), 1000 + k, out, cfg), cfg)})
    print(
        f"\n## Decontamination scan per shard ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load {os.getloadavg()[0]:.1f}, batch_rows {cfg.batch_rows})\n"
    )
    print(
        "| shard | docs | contaminated | scan CPU s | CPU s / 1M docs | setup CPU s | RSS after setup MiB | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['shard']} | {r['docs']:,} | {r['contaminated']:,} | {r['work_cpu_s']:.2f} | "
            f"{r['work_cpu_s'] / r['docs'] * 1e6:,.0f} | {r['setup_cpu_s']:.2f} | {r['rss_after_setup_mib']:.0f} | "
            f"{r['peak_rss_mib']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
