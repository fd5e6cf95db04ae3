"""The proxy pretraining loop: packed tokens -> a Llama checkpoint in Hugging Face format.

AdamW (fused kernel where the device has one), linear warmup + cosine or WSD
(warmup-stable-decay) schedule, global-norm gradient clipping, a token budget (fixed
or a Chinchilla multiple of the parameters; more than the data means epochs, which are
recorded), gradient accumulation, bf16 autocast where the hardware has bf16, and
torch.compile on CUDA with MFU reported.

Deterministic on CPU: the model init, the packing shuffle and the data order all come
from the seed, and the data order is a pure function of the step, so a run resumed
from a checkpoint (model + optimizer + scheduler + RNG + step, written atomically every
`checkpoint_every` steps) ends with exactly the loss of an uninterrupted run.

One module on purpose (about 610 lines): the run's plan, optimizer, resume, step,
snapshots, checkpoint and the files it writes all act on one run's state, and the
resume-equals-uninterrupted guarantee is easiest to check when they sit together. Which
rows a step trains on, and how they are rendered (MeCo's metadata, ODM's online mixing),
is tasks/train/batches.py's.

Output `models/<train_hash16>/`: config.json + model.safetensors + tokenizer files (so
`AutoModelForCausalLM`, `AutoTokenizer` and `lm_eval --model hf --model_args
pretrained=PATH` load it), curves.parquet / curves.csv / curves.png, train.json, and
`_SUCCESS` last. While training, `checkpoint/last.pt` holds the resume state.

Evaluation snapshots: `spec.snapshots` steps evenly spaced over the last
`spec.snapshot_window` of the run (`snapshot_steps`, the final step included) leave their
weights in `snapshots/step-<N>.safetensors` (the final step's are model.safetensors), so
the eval stage can measure checkpoint-to-checkpoint spread, training noise, at no extra
training (Heineman et al. 2025, "Signal and Noise"). They stay after the run; the
checkpoint folder does not.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tasks.core.hashing import hash_json, short
from tasks.core.logs import quiet_libraries
from tasks.core.workspace import SUCCESS, write_json_atomic
from tasks.train.batches import make_batches
from tasks.train.hparams import resolve_hparams
from tasks.train.metadata import document_share
from tasks.train.model import build_model, count_params, flops_per_token, training_steps
from tasks.train.spec import OnlineMixSpec, TrainSpec, get_preset
from tasks.train.tokens import load_tokens, training_order

TRAIN_VERSION = "train-1"
# Spec fields that do not change the result (only how often we save).
# the tokenizer digest covers vocab_size; snapshots are extra files beside the same final model
_NOT_HASHED = {"checkpoint_every", "vocab_size", "snapshots", "snapshot_window"}
SNAPSHOT_DIR = "snapshots"  # tasks/evaluate/snapshots.py reads the same layout
INIT_FROM = "init_from"  # spec.options key: a sibling model (models/<key>) whose weights start the run
# Dense bf16 peak FLOP/s for MFU, by CUDA device name fragment.
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 70e12,
    "L4": 121e12,
    "4090": 165e12,
    "3090": 71e12,
    "V100": 125e12,
}


# ---------------------------------------------------------------- resolution


def resolve_device(spec: TrainSpec) -> str:
    import torch

    if spec.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but torch sees no CUDA device")
    return spec.device


def cpu_has_bf16() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(spec: TrainSpec, device: str) -> str:
    if spec.precision != "auto":
        return spec.precision
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def train_hash(
    dataset_digest: str,
    tokenizer_digest: str,
    spec: TrainSpec,
    device: str,
    precision: str,
    online: OnlineMixSpec | None = None,
) -> str:
    """Dataset + tokenizer + training config (as resolved on this machine) + code version,
    and the recipe's online mixing (`mixture.online`) when it has one."""
    fields = {
        "dataset": dataset_digest,
        "tokenizer": tokenizer_digest,
        "spec": spec.model_dump(exclude=_NOT_HASHED),
        "device": device,
        "precision": precision,
        "version": TRAIN_VERSION,
    }
    if online is not None:
        fields["online"] = online.model_dump()
    return hash_json(fields)


def _run_config(spec: TrainSpec, online: OnlineMixSpec | None) -> dict[str, Any]:
    """What a checkpoint must match to be resumed."""
    return dict(spec.model_dump(exclude=_NOT_HASHED), online=online.model_dump() if online else None)


def lr_at(step: int, total: int, peak: float, spec: TrainSpec) -> float:
    """Learning rate for optimizer step `step` (0-based) of `total`."""
    warm = int(round(spec.warmup * total))
    floor = peak * spec.min_lr_ratio
    if step < warm:
        return peak * (step + 1) / warm
    if spec.schedule == "cosine":
        progress = (step - warm) / max(1, total - warm - 1)
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    # WSD: constant after warmup, then a linear decay over the last `decay` fraction.
    decay_steps = max(1, int(round(spec.decay * total)))
    decay_start = total - decay_steps
    if step < decay_start:
        return peak
    progress = (step - decay_start + 1) / decay_steps
    return peak + (floor - peak) * min(1.0, progress)


def snapshot_steps(total_steps: int, k: int, window: float) -> list[int]:
    """The optimizer steps (1-based, ascending) that leave an evaluation snapshot: `k`
    steps ending at `total_steps`, `window * total_steps / k` apart (rounded half up, at
    least 1). E.g. 100 steps, k=4, window 0.2: 85, 90, 95, 100. A run too short for `k`
    distinct steps gets fewer."""
    if k <= 0 or total_steps <= 0:
        return []
    spacing = max(1, math.floor(window * total_steps / k + 0.5))
    return sorted(s for s in (total_steps - i * spacing for i in range(k)) if s >= 1)


def snapshot_path(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / SNAPSHOT_DIR / f"step-{step}.safetensors"


def save_snapshot(model, path: Path) -> None:
    """The model's weights only, fp32, as safetensors; written to a temp file and renamed."""
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, tuple[int, ...]]] = set()
    for name, t in model.state_dict().items():
        # Tied weights (output layer = embedding) are one tensor: stored once, as save_pretrained does.
        ident = (t.data_ptr(), tuple(t.shape))
        if ident in seen:
            continue
        seen.add(ident)
        tensors[name] = t.detach().to("cpu", torch.float32).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)  # a kill mid-write leaves no half-written snapshot


def _init_from(model, model_dir: Path) -> None:
    """Start from a finished model's weights (the tied output layer is stored once)."""
    from safetensors.torch import load_file

    result = model.load_state_dict(load_file(str(model_dir / "model.safetensors")), strict=False)
    if result.unexpected_keys or [k for k in result.missing_keys if k != "lm_head.weight"]:
        raise ValueError(f"init_from {model_dir}: weights do not fit the model ({result})")


# ---------------------------------------------------------------- the loop


class Stopped(Exception):
    """Raised inside the loop by a step callback to simulate a kill (tests)."""


def default_threads() -> int:
    """The intra-op thread count a run uses unless told: `$OMP_NUM_THREADS`, else the
    physical cores this process may run on. A property of the machine, never of what ran
    before in the process (torch.get_num_threads() is process state that others change)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or usable
    except ImportError:
        physical = usable
    return max(1, min(usable, physical))


def train(
    packed_dir: str | Path,
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    spec: TrainSpec,
    *,
    stop_after_steps: int | None = None,
    on_step: Callable[[dict], None] | None = None,
    progress: bool = True,
    threads: int | None = None,
    online: OnlineMixSpec | None = None,
) -> dict[str, Any]:
    """Train on the packed sequences in `packed_dir`; save the model into `out_dir`.
    `online`: the recipe's `mixture.online` (the packing must be by its groups).

    Resumes from `out_dir/checkpoint/last.pt` if present. `stop_after_steps` ends the
    run after that many optimizer steps (counted from 0, after checkpointing), leaving
    the checkpoint behind as a kill would: used to test resume. Returns the summary
    (also `out_dir/train.json`) with the curves under "curves".

    CPU float reductions are split across torch's intra-op threads, so the thread count
    changes the last bits of the loss. The run pins it (`threads`, else
    `default_threads()`), records it in the checkpoint, resumes with the recorded count,
    and gives the caller's setting back afterwards: a resumed run is bit-identical to an
    uninterrupted one whatever ran before in the process. (Across machines or torch
    builds, kernels differ and only closeness is expected.)
    """
    import torch

    ambient = torch.get_num_threads()
    try:
        return _train(packed_dir, tokenizer_dir, out_dir, spec, stop_after_steps, on_step, progress, threads, online)
    finally:
        torch.set_num_threads(ambient)


@dataclass(frozen=True)
class _Plan:
    """A run's shape from its spec, its model's size and its packed data."""

    budget: int  # tokens asked for
    batch: int  # sequences per optimizer step
    micro: int  # sequences per forward/backward
    tokens_per_step: int
    total_steps: int
    peak_lr: float
    n_sequences: int  # in the packed data (an epoch)
    hparams: str = "fixed"  # the rule that set peak_lr and batch (tasks/train/hparams.py)

    @property
    def epochs(self) -> float:
        return self.total_steps * self.batch / self.n_sequences


def _plan(spec: TrainSpec, n_params: int, meta: dict[str, Any], n_non_embedding: int) -> _Plan:
    preset = get_preset(spec.preset)
    budget = (
        spec.tokens
        or (int(spec.tokens_per_param * n_params) if spec.tokens_per_param else 0)
        or preset.tokens
        or 20 * n_params
    )
    hp = resolve_hparams(spec, n_non_embedding, budget, meta["seq_len"])
    batch, micro = hp.batch, hp.micro
    tokens_per_step = batch * meta["seq_len"]
    # with metadata the budget counts document tokens: the prefixes' positions come on top
    share = document_share(meta) if spec.metadata else 1.0
    total_steps = training_steps(budget, max(1, int(tokens_per_step * share)))
    return _Plan(budget, batch, micro, tokens_per_step, total_steps, hp.lr, meta["n_sequences"], hp.rule)


def _optimizer(model, spec: TrainSpec, plan: _Plan):
    """AdamW (no decay on embeddings and vectors) and its warmup/decay schedule."""
    import torch

    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embed" not in name else no_decay).append(p)
    opt_kwargs: dict[str, Any] = {"lr": plan.peak_lr, "betas": (spec.beta1, spec.beta2), "eps": 1e-8}
    opt_kwargs["fused"] = True  # one kernel per step on CPU and CUDA (torch >= 2.4)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], **opt_kwargs
    )
    total_steps, peak_lr = plan.total_steps, plan.peak_lr
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_at(s, total_steps, peak_lr, spec) / peak_lr)
    return optimizer, scheduler


def _resume(ckpt_path: Path, model, optimizer, scheduler, config: dict, total_steps: int, device: str) -> dict:
    """Load the checkpoint into the model, optimizer, scheduler and RNGs; its step, curves
    and thread count."""
    import torch

    state = torch.load(ckpt_path, map_location=device, weights_only=False)
    if state["total_steps"] != total_steps or dict(state["train_config"], online=state.get("online")) != config:
        raise RuntimeError(f"checkpoint {ckpt_path} belongs to a different run configuration; delete it to start over")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng(state["rng"])
    return state


def _step(model, fwd, x_all, y_all, plan: _Plan, device: str, autocast, optimizer, scheduler, grad_clip: float):
    """One optimizer step over `x_all` in micro-batches: (loss, grad norm, lr used).
    `y_all`: the labels where some positions carry no loss (-100), else None (= x_all)."""
    import torch

    batch, micro = plan.batch, plan.micro
    loss_sum = 0.0
    for m in range(0, batch, micro):
        x = x_all[m : m + micro].to(device, non_blocking=True)
        y = x if y_all is None else y_all[m : m + micro].to(device, non_blocking=True)
        with autocast:
            loss = fwd(input_ids=x, labels=y, use_cache=False).loss
        (loss * (x.shape[0] / batch)).backward()
        loss_sum += loss.detach().float() * (x.shape[0] / batch)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    lr_now = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss_sum), grad_norm, lr_now


def _train(
    packed_dir: str | Path,
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    spec: TrainSpec,
    stop_after_steps: int | None,
    on_step: Callable[[dict], None] | None,
    progress: bool,
    threads: int | None,
    online: OnlineMixSpec | None = None,
) -> dict[str, Any]:
    import torch

    threads = threads or default_threads()
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data, meta = load_tokens(packed_dir)
    device = resolve_device(spec)
    precision = resolve_precision(spec, device)
    use_compile = spec.compile if spec.compile is not None else device == "cuda"
    seq_len = meta["seq_len"]

    model = build_model(spec.preset, vocab_size=meta["vocab_size"], eos_id=meta["eos_id"], seed=spec.seed)
    model.config.max_position_embeddings = max(model.config.max_position_embeddings, seq_len)
    if spec.options.get(INIT_FROM):  # continued training (tasks/sweep/merge.py); the key is in the hash
        _init_from(model, out_dir.parent / str(spec.options[INIT_FROM]))
    n_params = count_params(model)
    plan = _plan(spec, n_params, meta, count_params(model, non_embedding=True))
    batch, tokens_per_step, total_steps = plan.batch, plan.tokens_per_step, plan.total_steps
    order = training_order(meta, total_steps * batch, spec.seed)
    batches = make_batches(spec, online, data, meta, packed_dir, order, batch, total_steps)
    config = _run_config(spec, online)

    model.to(device)
    model.train()
    optimizer, scheduler = _optimizer(model, spec, plan)

    ckpt_path = out_dir / "checkpoint" / "last.pt"
    snapshots = snapshot_steps(total_steps, spec.snapshots, spec.snapshot_window)
    start_step, curves, resumed_from = 0, [], None
    if not ckpt_path.exists():  # a fresh start: snapshots of an earlier, abandoned run are stale
        shutil.rmtree(out_dir / SNAPSHOT_DIR, ignore_errors=True)
    else:
        state = _resume(ckpt_path, model, optimizer, scheduler, config, total_steps, device)
        start_step, curves, resumed_from = state["step"], state["curves"], state["step"]
        batches.load(state.get("batches"))
        threads = int(state.get("threads") or threads)  # the count the run started with
        torch.set_num_threads(threads)

    fwd = torch.compile(model) if use_compile else model
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=precision == "bf16")

    def save_checkpoint(step: int) -> None:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_path.with_name(f".last.{os.getpid()}.tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _get_rng(),
                "step": step,
                "total_steps": total_steps,
                "curves": curves,
                "train_config": spec.model_dump(exclude=_NOT_HASHED),
                "online": config["online"],
                "batches": batches.state(),
                "threads": threads,
            },
            tmp,
        )
        os.replace(tmp, ckpt_path)  # a kill mid-write leaves the previous checkpoint intact

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=start_step, desc=f"train {spec.preset}", unit="step")
    t_start = time.perf_counter()
    timed_tokens, timed_seconds = 0, 0.0
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(start_step, total_steps):
        t0 = time.perf_counter()
        x_all, y_all, info = batches.get(step)
        loss_val, grad_norm, lr_now = _step(
            model, fwd, x_all, y_all, plan, device, autocast, optimizer, scheduler, spec.grad_clip
        )
        batches.observe(loss_val)
        if not math.isfinite(loss_val):
            raise FloatingPointError(f"training loss became {loss_val} at step {step}")
        dt = time.perf_counter() - t0
        if step - start_step >= 2:  # skip warm-up (compilation, allocator) steps
            timed_tokens += tokens_per_step
            timed_seconds += dt
        row = {
            "step": step + 1,
            "tokens": (step + 1) * tokens_per_step,
            "loss": loss_val,
            "grad_norm": float(grad_norm),
            "lr": lr_now,
            "epoch": (step + 1) * batch / meta["n_sequences"],
            "seconds": dt,
            **info,
        }
        curves.append(row)
        if on_step:
            on_step(row)
        if bar:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_val:.3f}")
        done = step + 1
        # Before the checkpoint: a checkpoint at step N implies every snapshot up to N exists.
        if done in snapshots and done < total_steps:
            save_snapshot(model, snapshot_path(out_dir, done))
        if done < total_steps and (done % spec.checkpoint_every == 0 or done == stop_after_steps):
            save_checkpoint(done)
        if stop_after_steps is not None and done >= stop_after_steps and done < total_steps:
            if bar:
                bar.close()
            return {"stopped_at_step": done, "total_steps": total_steps, "threads": threads, "curves": curves}
    if bar:
        bar.close()
    wall = time.perf_counter() - t_start

    tokens_per_s = timed_tokens / timed_seconds if timed_seconds else None
    run = {
        "device": device,
        "precision": precision,
        "compiled": bool(use_compile),
        "n_params": n_params,
        "tokens_per_s": tokens_per_s,
        "seconds": wall,
        "resumed_from_step": resumed_from,
        "snapshot_steps": snapshots,
        "threads": threads,
    }
    summary = dict(_summary(model, spec, plan, meta, curves, run), **batches.finish(curves, out_dir))
    save_model(model, tokenizer_dir, out_dir, seq_len)
    write_curves(curves, out_dir)
    write_json_atomic(out_dir / "train.json", summary)
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)
    return dict(summary, curves=curves)


def _summary(model, spec: TrainSpec, plan: _Plan, meta: dict, curves: list[dict], run: dict) -> dict[str, Any]:
    """train.json: the run's shape, its losses, its speed (`run`: what the loop measured)."""
    import torch

    device, tokens_per_s = run["device"], run["tokens_per_s"]
    fpt = flops_per_token(model, meta["seq_len"])
    peak = _peak_flops(device)
    return {
        "preset": spec.preset,
        "seed": spec.seed,
        "device": device,
        "precision": run["precision"],
        "compiled": run["compiled"],
        "n_params": run["n_params"],
        "n_params_non_embedding": count_params(model, non_embedding=True),
        "seq_len": meta["seq_len"],
        "batch_size": plan.batch,
        "micro_batch_size": plan.micro,
        "tokens_budget": int(plan.budget),
        # matched across arms: the plain steps of the budget (a MeCo run's steps also carry its metadata)
        "tokens_trained": training_steps(plan.budget, plan.tokens_per_step) * plan.tokens_per_step,
        "steps": plan.total_steps,
        "epochs": plan.epochs,
        "dataset_sequences": meta["n_sequences"],
        "peak_lr": plan.peak_lr,
        "hparams": plan.hparams,
        "schedule": spec.schedule,
        "final_loss": curves[-1]["loss"],
        "final_loss_avg10": float(np.mean([c["loss"] for c in curves[-10:]])),
        "tokens_per_s": tokens_per_s,
        "seconds": run["seconds"],
        "resumed_from_step": run["resumed_from_step"],
        "snapshot_steps": run["snapshot_steps"],  # the last one is the final model
        "threads": run["threads"],
        "flops_per_token": fpt,
        "achieved_tflops": (fpt * tokens_per_s / 1e12) if tokens_per_s else None,
        "mfu": (fpt * tokens_per_s / peak) if (peak and tokens_per_s) else None,
        "peak_memory_mb": (torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
        "per_source_tokens": meta.get("per_source"),
    }


def save_model(model, tokenizer_dir: str | Path, out_dir: Path, seq_len: int) -> None:
    """Hugging Face layout: weights + config + the suite tokenizer, loadable by lm-eval."""
    from transformers import AutoTokenizer

    quiet_libraries()  # transformers' per-shard "Writing model shards" bar
    model.config.use_cache = True
    model.save_pretrained(str(out_dir))
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    tok.model_max_length = model.config.max_position_embeddings
    tok.save_pretrained(str(out_dir))


def write_curves(curves: list[dict], out_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(curves)
    pq.write_table(table, out_dir / "curves.parquet")
    pacsv.write_csv(table, out_dir / "curves.csv")
    plot_curves(curves, out_dir / "curves.png")


def plot_curves(curves: list[dict], path: Path, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tokens = [c["tokens"] / 1e6 for c in curves]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, label in zip(
        axes, ("loss", "grad_norm", "lr"), ("train loss (nats/token)", "grad norm (pre-clip)", "learning rate")
    ):
        ax.plot(tokens, [c[key] for c in curves], lw=1)
        ax.set_xlabel("tokens (M)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _peak_flops(device: str) -> float | None:
    if device != "cuda":
        return None
    import torch

    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def _get_rng() -> dict[str, Any]:
    import torch

    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def model_key(train_digest: str) -> str:
    return short(train_digest)


def load_summary(model_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(model_dir) / "train.json").read_text())


def is_trained(model_dir: str | Path) -> bool:
    return (Path(model_dir) / SUCCESS).exists()
