"""Fixed against Step Law hyperparameters (`train.hparams`, tasks/train/hparams.py) at each
rung of a suite's ladder: every arm trained both ways on the same curated dataset, tokens
and seed; no lm-eval, so it is cheap.

    python bench/step_law.py SUITE [--presets nano,tiny] [--arms a,b] [--texts 100]

The arms' datasets must be in the workspace ($WINNOW_HOME): run the suite or its ladder
first. Runs are the ladder's own (same train hashes), so a ladder already run trains
nothing again here; nothing is written to the catalog. Per rung and arm it prints the peak
lr, the batch (sequences), the steps, the final training loss (mean of the last 10 steps:
a 1-sequence batch makes single steps noisy) and bits per byte on the first `--texts`
held-out Wikipedia leads; then, per rule, whether the rungs rank the arms alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def heldout_bpb(model_dir: Path, n_texts: int, seq_len: int) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tasks.core.reference import wiki_leads
    from tasks.train.model import bits_per_byte

    texts = wiki_leads("heldout").column("text").to_pylist()[:n_texts]
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    return bits_per_byte(model, AutoTokenizer.from_pretrained(str(model_dir)), texts, max_len=seq_len)["bpb"]


def run(suite_path: str, presets: list[str] | None, arms: list[str] | None, n_texts: int) -> list[dict]:
    from flows.ablation import _load
    from flows.train import run_train
    from tasks.core.hashing import short
    from tasks.core.workspace import Workspace
    from tasks.report import ladder_plan as LP

    suite = _load(suite_path)
    ladder = suite.ladder if not presets else suite.ladder.model_copy(update={"presets": presets})
    ws = Workspace.from_env()
    rows = []
    for rule in ("fixed", "step_law"):
        for rung in LP.plan_rungs(LP.with_hparams(suite, rule), ladder):
            for arm in rung.suite.resolved_arms():
                if arms and arm.name not in arms:
                    continue
                s = run_train(ws, short(arm.data_hash()), arm.train, record=False).summary
                row = {k: s[k] for k in ("peak_lr", "batch_size", "steps", "tokens_trained")}
                row["hparams"] = s.get("hparams", "fixed")  # train.json from before the option: fixed
                row |= {"rung": rung.preset, "arm": arm.name, "final_loss_avg10": s["final_loss_avg10"]}
                row["heldout_bpb"] = heldout_bpb(Path(s["model_dir"]), n_texts, s["seq_len"])
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    from tasks.report.ladder_accuracy import decision_accuracy

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite")
    p.add_argument("--presets", help="comma-separated rungs (default: the suite's ladder)")
    p.add_argument("--arms", help="comma-separated arms (default: all)")
    p.add_argument("--texts", type=int, default=100, help="held-out Wikipedia leads scored (default 100)")
    a = p.parse_args(argv)
    split = lambda s: [x.strip() for x in s.split(",")] if s else None  # noqa: E731
    rows = run(a.suite, split(a.presets), split(a.arms), a.texts)
    print("\n| rung | arm | hparams | peak lr | batch | steps | final loss (last 10) | held-out bpb |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["rung"], r["arm"], r["hparams"])):
        print(
            f"| {r['rung']} | {r['arm']} | {r['hparams']} | {r['peak_lr']:.3g} | {r['batch_size']} | {r['steps']} | "
            f"{r['final_loss_avg10']:.4f} | {r['heldout_bpb']:.4f} |"
        )
    rungs = list(dict.fromkeys(r["rung"] for r in rows))
    for rule in ("fixed", "step_law"):
        by = {g: {r["arm"]: r["heldout_bpb"] for r in rows if r["rung"] == g and r["hparams"] == rule} for g in rungs}
        for g in rungs[:-1]:
            acc, pairs = decision_accuracy(by[g], by[rungs[-1]])
            print(f"{rule}: held-out bpb ranking at {g} vs {rungs[-1]}: decision accuracy {acc:.3f} over {pairs} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
