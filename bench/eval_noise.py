"""Per-item noise of every eval metric, and what items cost, to choose how many items to use.

Two nano-shaped models (tests/tiny_model.py: d=64, 2 layers, 4k vocab) trained on the same
Wikipedia train leads for different numbers of steps stand in for two arms. Each is
evaluated through lm-eval (the YAMLs in evals/, per-item samples kept) at `--limit` items
per task, timing each task; then, per task and metric, the script reports the per-item
standard deviation of the paired difference between the two models, the standard error of
that difference at the CI default and at `--limit` items, and seconds per item.

    PYTHONPATH=. python bench/eval_noise.py run --steps 200 --out /tmp/noise/a   # model A
    PYTHONPATH=. python bench/eval_noise.py run --steps 60 --out /tmp/noise/b    # model B
    PYTHONPATH=. python bench/eval_noise.py report /tmp/noise/a /tmp/noise/b
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

LM_LIMITS = {"wikitext2": 6, "news_heldout": 30}


def run(args) -> None:
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    torch.set_num_threads(args.threads)
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from tasks.evaluate.harness import EVALS_DIR, item_scores
    from tasks.evaluate.registry import ALL_TASKS, TASK_PREFIX
    from tests.tiny_model import build_tiny_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model_dir = build_tiny_model(out / "model", n_leads=1500, train_steps=args.steps, seed=args.seed)
    train_s = time.perf_counter() - t0
    lm = HFLM(pretrained=str(model_dir), device="cpu", batch_size=16, dtype="float32")
    manager = TaskManager(include_path=str(EVALS_DIR), include_defaults=False)
    rows, timing = [], {}
    tasks = args.tasks.split(",") if args.tasks else ALL_TASKS
    for task in tasks:
        n = LM_LIMITS.get(task, args.limit)
        w0, c0 = time.perf_counter(), time.process_time()
        res = lm_eval.simple_evaluate(
            model=lm,
            tasks=[TASK_PREFIX + task],
            task_manager=manager,
            samples={TASK_PREFIX + task: list(range(n))},
            log_samples=True,
            bootstrap_iters=0,
        )
        timing[task] = {"items": n, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}
        rows += [{**r, "steps": args.steps} for r in item_scores(res["samples"])]
        print(task, timing[task], flush=True)
    pq.write_table(pa.Table.from_pylist(rows), out / "items.parquet")
    (out / "timing.json").write_text(json.dumps({"train_s": train_s, "tasks": timing}, indent=2))


def report(args) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from tasks.evaluate.harness import DEFAULT_LIMIT, DEFAULT_LIMITS
    from tasks.report.stats import TaskScores, bootstrap

    a_dir, b_dir = Path(args.dirs[0]), Path(args.dirs[1])
    a, b = (pq.read_table(d / "items.parquet").to_pylist() for d in (a_dir, b_dir))
    timing = json.loads((a_dir / "timing.json").read_text())["tasks"]
    key = lambda rows: {(r["task"], r["metric"], r["item"]): (r["value"], r["weight"]) for r in rows}  # noqa: E731
    ka, kb = key(a), key(b)
    print(
        "| task | metric | items | mean A | mean B | A-B | sd(A-B) per item | SE(A-B) at CI default | "
        "SE(A-B) here | |A-B|/SE here | s/item (wall) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    out = []
    for task in timing:
        for metric in ("bpb", "prob", "acc"):
            items = sorted(i for (t, m, i) in ka if t == task and m == metric and (t, m, i) in kb)
            if not items:
                continue
            va = np.array([ka[(task, metric, i)][0] for i in items])
            vb = np.array([kb[(task, metric, i)][0] for i in items])
            w = np.array([ka[(task, metric, i)][1] for i in items])
            boot = bootstrap(TaskScores(np.stack([va, vb]), w), n_boot=1000)
            d = boot.replicates[:, 0] - boot.replicates[:, 1]
            diff = float(boot.point[0] - boot.point[1])
            se = float(d.std(ddof=1))
            n = len(items)
            ci_n = DEFAULT_LIMITS.get(task, DEFAULT_LIMIT)
            se_ci = se * np.sqrt(n / min(ci_n, n)) if ci_n else se
            per_item_sd = se * np.sqrt(n)
            s_item = timing[task]["wall_s"] / timing[task]["items"]
            out.append(dict(task=task, metric=metric, n=n, diff=diff, se=se, sd=per_item_sd, s_item=s_item))
            print(
                f"| {task} | {metric} | {n} | {boot.point[0]:.4f} | {boot.point[1]:.4f} | {diff:+.4f} | "
                f"{per_item_sd:.4f} | {se_ci:.4f} | {se:.4f} | {abs(diff) / se if se else float('inf'):.1f} | "
                f"{s_item:.3f} |"
            )
    total = sum(t["wall_s"] for t in timing.values())
    counts = ", ".join(f"{k} {v['items']}" for k, v in timing.items())
    print(f"\nwall seconds for model A's eval: {total:.1f} ({counts})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--steps", type=int, required=True, help="training steps of the model")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--limit", type=int, default=200, help="items per benchmark and per Wikipedia lead set")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--tasks", default=None)
    r.add_argument("--out", required=True)
    q = sub.add_parser("report")
    q.add_argument("dirs", nargs=2)
    q.add_argument("--json", default=None)
    args = p.parse_args()
    run(args) if args.cmd == "run" else report(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
