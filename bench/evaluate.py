"""Evaluation throughput: items/s per task for a nano-sized model on CPU, through lm-eval.

Loads the model once (lm-eval's HFLM) and times each task of `evals/` at `--limit` items,
wall clock and process CPU time (the CI machine is shared, CPU time is the stabler
figure). These figures choose the CI subsample (tasks.evaluate.harness.DEFAULT_LIMIT(S)); there is
no peer to race: lm-eval is the evaluator, by design.

    PYTHONPATH=. python bench/evaluate.py [--model DIR] [--limit 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="saved HF model dir (default: build a nano-shaped one)")
    parser.add_argument("--limit", type=int, default=40, help="items per task")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--tasks", default=None, help="comma-separated short task names (default: all)")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import torch

    torch.set_num_threads(args.threads)
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from tasks.evaluate.harness import EVALS_DIR
    from tasks.evaluate.registry import ALL_TASKS, TASK_PREFIX

    model_dir = args.model
    if model_dir is None:
        from tests.tiny_model import build_tiny_model

        model_dir = str(build_tiny_model(Path(tempfile.mkdtemp()) / "nano", n_leads=500))
    lm = HFLM(pretrained=model_dir, device="cpu", batch_size=args.batch_size, dtype="float32")
    manager = TaskManager(include_path=str(EVALS_DIR), include_defaults=False)
    print(f"model {model_dir}, limit {args.limit}, threads {args.threads}, batch {args.batch_size}")
    print("| task | items | wall s | cpu s | items/s (wall) | items/s (cpu) |\n|---|---|---|---|---|---|")
    total_wall = total_cpu = 0.0
    for task in args.tasks.split(",") if args.tasks else ALL_TASKS:
        w0, c0 = time.perf_counter(), time.process_time()
        res = lm_eval.simple_evaluate(
            model=lm,
            tasks=[TASK_PREFIX + task],
            task_manager=manager,
            limit=args.limit,
            log_samples=False,
            bootstrap_iters=1000,
        )
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        n = res["n-samples"][TASK_PREFIX + task]["effective"]
        total_wall += wall
        total_cpu += cpu
        print(f"| {task} | {n} | {wall:.1f} | {cpu:.1f} | {n / wall:.1f} | {n / cpu:.1f} |", flush=True)
    print(f"| all | | {total_wall:.1f} | {total_cpu:.1f} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
