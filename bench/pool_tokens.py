"""A suite's pool in real tokens of its suite tokenizer, and what each ladder rung repeats.

    PYTHONPATH=$PWD python bench/pool_tokens.py recipes/suites/ladder.yaml [--workspace DIR]

Ingests every source of the suite (cached in the workspace, as the ablation would),
counts each document's tokens with the suite tokenizer (tasks/train/doc_tokens.py: the
counts curation cuts budgets with) and prints per source: documents and tokens; then per
ladder rung: parameters, training tokens per arm (the suite's rule), epochs over each
arm's token-matched dataset, and the share of the whole pool one arm's training sees.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite")
    ap.add_argument("--workspace")
    args = ap.parse_args(argv)
    if args.workspace:
        os.environ["WINNOW_HOME"] = str(Path(args.workspace).resolve())

    from flows import _runtime
    from flows.ablation import _load
    from flows.ingest import run_ingest
    from tasks.core.docsref import resolve_docs
    from tasks.core.workspace import Workspace
    from tasks.report.ladder_plan import plan_rungs
    from tasks.train.doc_tokens import counts_key, doc_token_counts, suite_tokenizer
    from tasks.train.spec import get_preset

    spec = _load(args.suite)
    ws = Workspace.from_env(args.workspace)
    vocab = (
        (spec.ladder.vocab_size if spec.ladder else None) or spec.tokenizer_vocab or get_preset(spec.preset).vocab_size
    )
    tok = suite_tokenizer(ws, vocab)
    rows = []
    with _runtime.prefect_api():
        for name in spec.sources:
            run_ingest(spec.source_uris(name), name=name, workspace=ws.root)
            docs = resolve_docs(ws, name)
            doc_token_counts(ws, docs, tok)
            info = ws.read_done("doc_tokens", counts_key(docs, tok))
            rows.append({"source": name, "documents": info["documents"], "tokens": info["tokens"]})
    pool = sum(r["tokens"] for r in rows)
    out = {"suite": spec.name, "tokenizer_vocab": vocab, "sources": rows, "pool_tokens": pool, "rungs": []}
    print(f"# pool of {spec.name} (suite tokenizer, vocab {vocab})\n")
    print("| source | documents | tokens |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['source']} | {r['documents']:,} | {r['tokens']:,} |")
    print(f"| **all** | {sum(r['documents'] for r in rows):,} | **{pool:,}** |")
    if spec.ladder and spec.token_budget:
        print(f"\nEvery arm: {spec.token_budget:,} tokens ({spec.token_budget / pool:.1%} of the pool).\n")
        print("| rung | params | train tokens/arm | capped | epochs over the arm's data | train tokens / pool |")
        print("|---|---:|---:|---|---:|---:|")
        for r in plan_rungs(spec, spec.ladder):
            p = r.plan
            print(
                f"| {r.preset} | {p.n_params:,} | {p.tokens:,} | {'yes' if p.capped else 'no'} | "
                f"{p.epochs:.2f} | {p.tokens / pool:.2f} |"
            )
            out["rungs"].append({"preset": r.preset, **p.__dict__, "tokens_over_pool": p.tokens / pool})
    print("\n" + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
