"""What the evaluation snapshots cost: held-out bits per byte on every snapshot of a nano
run (tasks/evaluate/snapshots.py) against lm-eval scoring the same texts once, on the
final model, in the same evaluation (the default limits: 6 WikiText-2 articles, 300
Wikipedia leads, 40 news articles).

    PYTHONPATH=. python bench/snapshot_cost.py [--tokens 300000] [--threads 2]

Trains a nano proxy (preset shape, 4096-token suite tokenizer, sequences of 256) on the
Wikipedia train leads with the default snapshots, evaluates it on the `lm` tasks
(`evaluate_model`: lm-eval, then the snapshots), and prints both times, their ratio and
the largest difference between the final model's rows and lm-eval's own `bpb` items.
Writes bench/out/snapshot_cost.json; a second run reuses the model (`--retrain` to train again).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=300_000, help="training tokens")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--retrain", action="store_true", help="train again even if the workspace has the model")
    ap.add_argument("--workspace", default=str(ROOT / "bench" / "out" / "snapshot_ws"))
    args = ap.parse_args()

    import torch

    from tasks.core.reference import wiki_leads
    from tasks.core.workspace import Workspace
    from tasks.evaluate.harness import evaluate_model, read_items
    from tasks.evaluate.snapshots import read_snapshot_items
    from tasks.evaluate.spec import EvalSpec
    from tasks.train.loop import train
    from tasks.train.spec import TrainSpec, get_preset
    from tasks.train.tokenizer import build_tokenizer, reference_texts
    from tasks.train.tokens import tokenize_dataset

    torch.set_num_threads(args.threads)
    ws = Workspace.from_env(args.workspace)
    preset = get_preset("nano")
    _, tok_dir = build_tokenizer(ws, preset.vocab_size, reference_texts())
    wiki = wiki_leads("train")
    folder = ws.root / "in" / "wiki"
    folder.mkdir(parents=True, exist_ok=True)
    n = wiki.num_rows
    pq.write_table(
        pa.table(
            {
                "doc_id": wiki.column("title"),
                "source": ["wiki"] * n,
                "url": [""] * n,
                "text": wiki.column("text"),
                "repeat": pa.array([1] * n, pa.int64()),
            }
        ),
        folder / "part-00000.parquet",
    )
    packed, _ = tokenize_dataset(ws, folder, tok_dir, preset.seq_len, 0)
    spec = TrainSpec(preset="nano", tokens=args.tokens, seed=0, device=args.device)
    model_dir = ws.root / "model"
    t0 = time.time()
    if args.retrain or not (model_dir / "train.json").exists():
        shutil.rmtree(model_dir, ignore_errors=True)
        summary = train(packed, tok_dir, model_dir, spec, progress=False, threads=args.threads)
    else:  # the model of an earlier run of this benchmark: only the evaluation is measured
        summary = json.loads((model_dir / "train.json").read_text())
    train_s = time.time() - t0
    shutil.rmtree(ws.root / "evals", ignore_errors=True)
    ev = evaluate_model(model_dir, EvalSpec(tasks=["lm"]), ws, device=args.device).summary
    snap_s = ev["snapshot_seconds"]
    lm_eval_s = ev["seconds"] - snap_s  # everything else of the stage: lm-eval and its aggregation
    items = {(r["task"], r["item"]): r["value"] for r in read_items(ev["results_dir"]) if r["metric"] == "bpb"}
    snaps = read_snapshot_items(ev["results_dir"])
    final = {(r["task"], r["item"]): r["value"] for r in snaps if r["step"] == summary["steps"]}
    max_diff = max(abs(final[k] - items[k]) for k in items)
    out = {
        "args": vars(args),
        "train_steps": summary["steps"],
        "snapshot_steps": summary["snapshot_steps"],
        "train_seconds": round(train_s, 1),
        "items": len(items),
        "limits": ev["config"]["limits"],
        "lm_eval_seconds": round(lm_eval_s, 2),
        "snapshot_seconds": snap_s,
        "n_snapshots": ev["n_snapshots"],
        "snapshot_seconds_per_checkpoint": round(snap_s / ev["n_snapshots"], 2),
        "max_abs_diff_final_vs_lm_eval": max_diff,
    }
    print(json.dumps(out, indent=2))
    print(
        f"\nsnapshot scoring: {snap_s:.1f} s for {ev['n_snapshots']} checkpoints x {len(items)} documents; "
        f"lm-eval on the final model alone: {lm_eval_s:.1f} s (ratio {snap_s / lm_eval_s:.2f}); "
        f"final model vs lm-eval: max |diff| {max_diff:.2e} bits/byte"
    )
    path = ROOT / "bench" / "out" / "snapshot_cost.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
