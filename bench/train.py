"""Training throughput: winnow's loop vs a plain Hugging Face forward/backward loop.

    PYTHONPATH=. python bench/train.py [--presets nano tiny] [--steps 8] [--batch 8] [--threads 2]

Both arms train the same LlamaForCausalLM config on the same packed real text (Wikipedia
leads, the suite tokenizer) with the same batch and sequence length:
- plain HF: eager attention, fp32, `torch.optim.AdamW(foreach=False)`, `model(labels=x).loss`,
  backward, clip, step — what a Trainer-free script does;
- winnow: `tasks.train.loop.train` itself — SDPA attention, bf16 autocast where the hardware has
  bf16 (CUDA, AVX512-BF16/AMX CPUs), fused AdamW, torch.compile on CUDA.
Each arm runs in its own child process (so peak memory is its own), arms alternate for
`--rounds` rounds and the headline speedup is the median over rounds of winnow / plain measured back to back (the machine may be shared). Tokens/s skip the
first two steps. Peak memory: CUDA max allocated, or on CPU the peak RSS growth during
training (sampled every 10 ms). Writes bench/out/train.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class PeakRSS:
    """Peak resident memory growth of this process while inside the block (CPU)."""

    def __enter__(self):
        import psutil

        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self):
        if not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.set()
            self._t.join()

    def __exit__(self, *exc):
        self.stop()

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20


def plain_hf(packed: str, preset: str, steps: int, batch: int, device: str) -> dict:
    import numpy as np
    import torch

    from tasks.train.model import build_model, count_params
    from tasks.train.tokens import load_tokens

    data, meta = load_tokens(packed)
    model = build_model(
        preset, vocab_size=meta["vocab_size"], eos_id=meta["eos_id"], seed=0, attn_implementation="eager"
    ).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, foreach=False)
    seq = meta["seq_len"]
    timed, seconds, loss = 0, 0.0, None
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as mem:
        for step in range(steps):
            t0 = time.perf_counter()
            x = torch.from_numpy(data[step * batch : (step + 1) * batch].astype(np.int64)).to(device)
            loss = model(input_ids=x, labels=x, use_cache=False).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
            loss = loss.item()
            if device == "cuda":
                torch.cuda.synchronize()
            if step >= 2:
                timed += batch * seq
                seconds += time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else mem.mb
    return {
        "tokens_per_s": timed / seconds,
        "peak_mb": peak,
        "final_loss": loss,
        "params": count_params(model),
        "precision": "fp32",
        "attention": "eager",
    }


def winnow(packed: str, tokenizer: str, preset: str, steps: int, batch: int, out: str) -> dict:
    import shutil

    # Import what train() imports lazily (plotting, writers, the model) before measuring,
    # and stop measuring at the last step: the same window as the plain arm's loop.
    import matplotlib.pyplot  # noqa: F401
    import pyarrow.csv  # noqa: F401

    from tasks.train.loop import train
    from tasks.train.model import build_model
    from tasks.train.spec import TrainSpec
    from tasks.train.tokens import load_tokens

    build_model(preset)

    _, meta = load_tokens(packed)
    spec = TrainSpec(preset=preset, tokens=steps * batch * meta["seq_len"], batch_size=batch, warmup=0.0)
    shutil.rmtree(out, ignore_errors=True)
    with PeakRSS() as mem:
        s = train(
            packed,
            tokenizer,
            out,
            spec,
            progress=False,
            on_step=lambda row: mem.stop() if row["step"] == steps else None,
        )
    peak = s["peak_memory_mb"] if s["device"] == "cuda" else mem.mb
    return {
        "tokens_per_s": s["tokens_per_s"],
        "peak_mb": peak,
        "final_loss": s["final_loss"],
        "params": s["n_params"],
        "precision": s["precision"],
        "attention": "sdpa",
        "compiled": s["compiled"],
        "mfu": s["mfu"],
        "achieved_tflops": s["achieved_tflops"],
    }


def _child(queue, threads, fn, args):
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        queue.put(fn(*args))
    except Exception as exc:  # report, do not hang the parent
        queue.put({"error": repr(exc)})


def run_isolated(threads: int, fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, threads, fn, args))
    p.start()
    result = q.get()
    p.join()
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["nano", "tiny"])
    ap.add_argument("--steps", type=int, default=8, help="optimizer steps per arm (first 2 not timed)")
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--docs", type=int, default=2000, help="Wikipedia leads packed for the benchmark")
    ap.add_argument("--workspace", default=str(ROOT / "bench" / "out" / "train_ws"))
    args = ap.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from tasks.core.reference import wiki_leads
    from tasks.core.workspace import Workspace
    from tasks.train.spec import get_preset
    from tasks.train.tokenizer import build_tokenizer
    from tasks.train.tokens import tokenize_dataset

    device = "cuda" if torch.cuda.is_available() else "cpu"
    ws = Workspace.from_env(args.workspace)
    leads = wiki_leads("train").slice(0, args.docs)
    ds = ws.root / "bench_dataset"
    ds.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "doc_id": leads.column("title"),
                "source": ["wiki"] * leads.num_rows,
                "url": [""] * leads.num_rows,
                "text": leads.column("text"),
            }
        ),
        ds / "part-00000.parquet",
    )
    report = {
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu x{args.threads} threads",
        "steps": args.steps,
        "batch": args.batch,
        "rounds": args.rounds,
        "presets": {},
    }
    for preset in args.presets:
        p = get_preset(preset)
        _, tok_dir = build_tokenizer(ws, p.vocab_size)
        packed, meta = tokenize_dataset(ws, ds, tok_dir, p.seq_len, seed=0)
        need = args.steps * args.batch
        if meta["n_sequences"] < need:
            raise SystemExit(f"only {meta['n_sequences']} sequences packed; raise --docs")
        best: dict[str, dict] = {}
        ratios = []
        for r in range(args.rounds):
            for arm in ("plain_hf", "winnow"):
                if arm == "plain_hf":
                    res = run_isolated(args.threads, plain_hf, str(packed), preset, args.steps, args.batch, device)
                else:
                    res = run_isolated(
                        args.threads,
                        winnow,
                        str(packed),
                        str(tok_dir),
                        preset,
                        args.steps,
                        args.batch,
                        str(ws.root / "models" / preset),
                    )
                print(
                    f"{preset} round {r} {arm}: {res['tokens_per_s']:,.0f} tokens/s, peak {res['peak_mb']:.0f} MB",
                    flush=True,
                )
                if arm not in best or res["tokens_per_s"] > best[arm]["tokens_per_s"]:
                    best[arm] = res
                if arm == "plain_hf":
                    plain_round = res["tokens_per_s"]
                else:
                    ratios.append(res["tokens_per_s"] / plain_round)
        # The per-round ratio of neighbours in time is robust to the load changing between
        # rounds; its median is the headline, the best-of-rounds figures are shown beside it.
        speedup = statistics.median(ratios)
        report["presets"][preset] = {
            "seq_len": p.seq_len,
            **best,
            "speedup": speedup,
            "round_ratios": ratios,
            "speedup_best_of": best["winnow"]["tokens_per_s"] / best["plain_hf"]["tokens_per_s"],
        }
    print(f"\ndevice: {report['device']}; {args.steps} steps x {args.batch} sequences, {args.rounds} rounds")
    print(
        f"{'preset':<7} {'params':>9} {'plain HF tok/s (best)':>22} {'winnow tok/s (best)':>20} "
        f"{'speedup (median of rounds)':>27} {'HF peak MB':>11} {'winnow peak MB':>15}"
    )
    for preset, r in report["presets"].items():
        print(
            f"{preset:<7} {r['winnow']['params']:>9,} {r['plain_hf']['tokens_per_s']:>22,.0f} "
            f"{r['winnow']['tokens_per_s']:>20,.0f} {r['speedup']:>26.2f}x {r['plain_hf']['peak_mb']:>11.0f} "
            f"{r['winnow']['peak_mb']:>15.0f}"
        )
        if r["winnow"].get("mfu"):
            print(
                f"        winnow on {report['device']}: MFU {r['winnow']['mfu']:.1%}, "
                f"{r['winnow']['achieved_tflops']:.1f} TFLOP/s"
            )
    out = ROOT / "bench" / "out" / "train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
