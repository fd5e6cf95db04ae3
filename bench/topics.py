"""Cost of topic groups (`mixture: {group_by: topic}`): the 697 CC-MAIN-2019-30 documents as
one source in a fresh workspace; embeddings (the semdedup score column), k-means and naming,
then the cached second call. One thread; CPU seconds (the machine is shared).

    PYTHONPATH=$PWD python bench/topics.py [--n 8] [--max-tokens 256] [--out bench/out/topics.json]
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402

from bench.selection import load_cc  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from tasks.core.docsref import docs_hash_of, resolve_docs
    from tasks.core.workspace import Workspace
    from tasks.selection.spec import TopicsSpec
    from tasks.selection.topics import source_topics

    docs = load_cc()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.from_env(Path(tmp) / "ws")
        folder = ws.stage_dir("docs", "cckey")
        folder.mkdir(parents=True)
        shard = folder / "shard-00000.parquet"
        pq.write_table(docs, shard)
        ws.mark_done("docs", "cckey", {"name": "cc", "docs_hash": docs_hash_of([shard]), "shards": [shard.name]})
        ref = resolve_docs(ws, "cc")
        spec = TopicsSpec(n=args.n, seed=0, max_tokens=args.max_tokens)
        t0 = time.process_time()
        topics = source_topics(ws, [ref], spec)
        first = time.process_time() - t0
        t0 = time.process_time()
        source_topics(ws, [ref], spec)
        cached = time.process_time() - t0
        info = topics.info
    result = {
        "documents": docs.num_rows,
        "n": args.n,
        "max_tokens": args.max_tokens,
        "cpu_seconds_first": round(first, 2),
        "wall_seconds_embeddings": info["seconds_embeddings"],
        "wall_seconds_total": info["seconds"],
        "cpu_seconds_cached": round(cached, 3),
        "topics": {t: {"documents": topics.documents[t], "words": topics.words[t]} for t in topics.words},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
