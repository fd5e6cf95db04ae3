"""Tokenizer, token packing and the proxy training loop, on real text (CC docs, Wikipedia leads)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest

from tasks.core.reference import wiki_leads
from tasks.core.workspace import Workspace
from tasks.train.spec import TrainSpec
from tasks.train.tokenizer import build_tokenizer, load_tokenizer
from tasks.train.tokens import load_tokens, tokenize_dataset, training_order

SEQ = 64
ROOT = Path(__file__).resolve().parent.parent
_KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, os.getcwd())
from tasks.train.spec import TrainSpec
from tasks.train.loop import train
def die(row):
    if row["step"] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
train(sys.argv[1], sys.argv[2], sys.argv[3], TrainSpec.model_validate_json(sys.argv[4]), on_step=die, progress=False)
"""
# SIGKILL inside save_checkpoint: torch.save of the step-6 checkpoint writes the first half
# of its bytes to whatever path the loop gave it, makes them durable, and the process dies
# there (the step-3 checkpoint was written whole before).
_KILL_IN_SAVE_SCRIPT = """
import io, os, signal, sys
sys.path.insert(0, os.getcwd())
import torch
from tasks.train.spec import TrainSpec
from tasks.train.loop import train
real_save = torch.save
def save(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and obj.get("step") == 6 and "optimizer" in obj:
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        data = buf.getvalue()
        with open(f, "wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            os.fsync(out.fileno())
        print("killed while writing", os.path.basename(f), len(data) // 2, "of", len(data), "bytes", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)
torch.save = save
train(sys.argv[1], sys.argv[2], sys.argv[3], TrainSpec.model_validate_json(sys.argv[4]), progress=False)
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace.from_env(tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def tok(ws, cc_docs_table):
    # A small suite tokenizer: real text, 1024 merges-and-bytes, trained in about a second.
    texts = wiki_leads("train").column("text").to_pylist()[:600] + cc_docs_table.column("text").to_pylist()[:150]
    digest, folder = build_tokenizer(ws, 1024, texts)
    return digest, folder


def write_parts(folder, table, n_parts=2):
    folder.mkdir(parents=True, exist_ok=True)
    n = table.num_rows
    for i in range(n_parts):
        pq.write_table(
            table.slice(i * n // n_parts, (i + 1) * n // n_parts - i * n // n_parts), folder / f"part-{i:05d}.parquet"
        )
    return folder


@pytest.fixture(scope="module")
def cc_dataset(tmp_path_factory, cc_docs_table):
    t = cc_docs_table.select(["doc_id", "source", "url", "text"]).slice(0, 300)
    t = t.append_column("repeat", pa.array([1] * t.num_rows, pa.int64()))
    return write_parts(tmp_path_factory.mktemp("ds") / "cc", t)


@pytest.fixture(scope="module")
def packed(ws, tok, cc_dataset):
    return tokenize_dataset(ws, cc_dataset, tok[1], SEQ, seed=0)


def test_tokenizer_is_cached_byte_level_and_loads_with_autotokenizer(ws, tok, cc_docs_table):
    texts = wiki_leads("train").column("text").to_pylist()[:600] + cc_docs_table.column("text").to_pylist()[:150]
    assert build_tokenizer(ws, 1024, texts) == tok  # same sample -> same folder, no retrain
    assert (tok[1] / "_SUCCESS").exists()
    t = load_tokenizer(tok[1])
    assert len(t) == 1024 and t.eos_token == t.bos_token == t.pad_token == "<|endoftext|>"
    sample = "Zürich – naïve café ✓ 北京 \t\n  spaces"
    assert t.decode(t(sample, add_special_tokens=False)["input_ids"]) == sample  # byte-level: lossless


def test_packing_joins_whole_documents_by_eos(packed, tok, cc_dataset):
    out, meta = packed
    data, meta2 = load_tokens(out)
    assert meta2["n_sequences"] == meta["n_sequences"] and data.shape == (meta["n_sequences"], SEQ)
    assert data.dtype == np.uint16 and meta["dtype"] == "uint16"
    t = load_tokenizer(tok[1])
    texts = pq.read_table(cc_dataset).column("text").to_pylist()
    doc_tokens = [t(x, add_special_tokens=False)["input_ids"] for x in texts]
    doc_tokens = [d for d in doc_tokens if d]  # empty documents (12 here) are skipped, not packed
    assert 0 < len(texts) - len(doc_tokens) < len(texts) // 10
    # Accounting: packed + dropped tail = every document's tokens + one EOS each.
    total = sum(len(d) + 1 for d in doc_tokens)
    assert meta["n_tokens"] + meta["tokens_dropped_tail"] == total
    assert meta["per_source"]["cc"]["tokens"] == total and meta["per_source"]["cc"]["docs"] == len(doc_tokens)
    assert meta["tokens_dropped_tail"] < SEQ
    # The packed multiset of tokens is the documents' multiset minus a tail of < SEQ tokens.
    want = Counter(x for d in doc_tokens for x in d) + Counter({t.eos_token_id: len(doc_tokens)})
    got = Counter(data.reshape(-1).tolist())
    assert not got - want and sum((want - got).values()) == meta["tokens_dropped_tail"]
    # Between two EOS inside one sequence lies exactly one whole document.
    known = {tuple(d) for d in doc_tokens}
    inner = 0
    for row in data.tolist():
        cuts = [i for i, x in enumerate(row) if x == t.eos_token_id]
        for a, b in zip(cuts, cuts[1:]):
            if b > a + 1:
                assert tuple(row[a + 1 : b]) in known
                inner += 1
    assert inner >= 10


def test_packing_shuffle_is_seeded(ws, tok, cc_dataset, packed):
    data0, _ = load_tokens(packed[0])
    again, _ = tokenize_dataset(ws, cc_dataset, tok[1], SEQ, seed=0)  # cached
    assert again == packed[0]
    other, _ = tokenize_dataset(ws, cc_dataset, tok[1], SEQ, seed=1)
    data1, _ = load_tokens(other)
    assert data0.shape[0] > 10
    assert not np.array_equal(data0[:10], data1[:10])


def test_upsampling_and_final_phase_come_last(ws, tok, tmp_path, cc_docs_table):
    # The 120 shortest of 2000 leads, so that whole documents fit inside 64-token sequences.
    leads = wiki_leads("train").slice(0, 2000)
    leads = leads.take(pa.compute.sort_indices(pa.compute.utf8_length(leads.column("text")))[:120])
    cc = cc_docs_table.filter(pa.compute.greater(cc_docs_table.column("n_chars"), 0)).slice(0, 60)
    table = pa.table(
        {
            "doc_id": leads.column("title").to_pylist() + cc.column("doc_id").to_pylist(),
            "source": ["wiki"] * 120 + ["cc"] * 60,
            "url": [""] * 180,
            "text": leads.column("text").to_pylist() + cc.column("text").to_pylist(),
            "repeat": pa.array([3] * 120 + [1] * 60, pa.int64()),
            "phase": ["final"] * 120 + ["main"] * 60,
        }
    )
    out, meta = tokenize_dataset(ws, write_parts(tmp_path / "mix", table, 3), tok[1], SEQ, seed=0)
    wiki = meta["per_source"]["wiki"]
    assert wiki["tokens_upsampled"] == 3 * wiki["tokens"] and meta["n_doc_copies"] == 3 * 120 + 60
    (a_main, b_main), (a_fin, b_fin) = meta["phases"]["main"], meta["phases"]["final"]
    assert a_main == 0 and b_main == a_fin and b_fin == meta["n_sequences"]
    t = load_tokenizer(tok[1])
    wiki_docs = {tuple(t(x, add_special_tokens=False)["input_ids"]) for x in leads.column("text").to_pylist()}
    data, _ = load_tokens(out)
    seen = Counter()
    for i, row in enumerate(data.tolist()):
        cuts = [j for j, x in enumerate(row) if x == t.eos_token_id]
        for a, b in zip(cuts, cuts[1:]):
            if b > a + 1:
                is_wiki = tuple(row[a + 1 : b]) in wiki_docs
                assert is_wiki == (i >= a_fin), f"sequence {i}: document from the wrong phase"
                if is_wiki:
                    seen[tuple(row[a + 1 : b])] += 1
    assert max(seen.values()) >= 2  # upsampled copies really appear more than once
    # A budget of half the data still ends on the final phase, in proportion.
    order = training_order(meta, meta["n_sequences"] // 2, seed=0)
    n_final = sum(1 for i in order if i >= a_fin)
    assert order[-1] >= a_fin and all(i >= a_fin for i in order[-n_final:])
    assert abs(n_final / len(order) - (b_fin - a_fin) / meta["n_sequences"]) < 0.02


def test_epochs_repeat_every_sequence():
    meta = {"n_sequences": 10, "phases": {"main": [0, 10]}}
    order = training_order(meta, 25, seed=0)
    assert len(order) == 25 and list(order[:10]) == list(range(10))
    assert sorted(order[10:20]) == list(range(10)) and list(order[10:20]) != list(range(10))


def test_lr_schedules():
    from tasks.train.loop import lr_at

    spec = TrainSpec(warmup=0.1, min_lr_ratio=0.1)
    lrs = [lr_at(s, 100, 1.0, spec) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(x >= y for x, y in zip(lrs[10:], lrs[11:])) and lrs[-1] == pytest.approx(0.1)
    wsd = [lr_at(s, 100, 1.0, TrainSpec(schedule="wsd", warmup=0.1, decay=0.2)) for s in range(100)]
    assert wsd[50] == wsd[79] == 1.0 and wsd[-1] == pytest.approx(0.1) and wsd[85] < 1.0


def nano_spec(**kw):
    base = dict(
        preset="nano",
        tokens=SEQ * 4 * 8,
        batch_size=4,
        micro_batch_size=2,
        checkpoint_every=3,
        precision="fp32",
        seed=0,
    )
    return TrainSpec(**{**base, **kw})


def test_training_is_deterministic_and_resumes_to_the_same_loss(packed, tok, tmp_path):
    from tasks.train.loop import train

    spec = nano_spec()
    full = train(packed[0], tok[1], tmp_path / "full", spec, progress=False)
    assert full["steps"] == 8 and full["curves"][-1]["loss"] < full["curves"][0]["loss"]
    # "Kill" after step 5 (last checkpoint at step 5), then rerun: resumes from it.
    part = train(packed[0], tok[1], tmp_path / "resumed", spec, stop_after_steps=5, progress=False)
    assert part["stopped_at_step"] == 5 and (tmp_path / "resumed" / "checkpoint" / "last.pt").exists()
    assert [c["loss"] for c in part["curves"]] == [c["loss"] for c in full["curves"][:5]]  # same seed, same losses
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    resumed = train(packed[0], tok[1], tmp_path / "resumed", spec, progress=False)
    assert resumed["resumed_from_step"] == 5
    assert resumed["final_loss"] == full["final_loss"]
    assert [c["loss"] for c in resumed["curves"]] == [c["loss"] for c in full["curves"]]
    assert not (tmp_path / "resumed" / "checkpoint").exists()
    # A real kill: SIGKILL inside step 5, in a child process; the last checkpoint is step 3.
    killed = tmp_path / "killed"
    result = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(packed[0]), str(tok[1]), str(killed), spec.model_dump_json()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    import torch

    assert torch.load(killed / "checkpoint" / "last.pt", weights_only=False)["step"] == 3
    after_kill = train(packed[0], tok[1], killed, spec, progress=False)
    assert after_kill["resumed_from_step"] == 3 and after_kill["final_loss"] == full["final_loss"]
    other = train(packed[0], tok[1], tmp_path / "seed1", nano_spec(seed=1), stop_after_steps=1, progress=False)
    assert other["curves"][0]["loss"] != full["curves"][0]["loss"]


def test_a_kill_inside_save_checkpoint_leaves_the_previous_checkpoint_intact(packed, tok, tmp_path):
    """SIGKILL half-way through writing the step-6 checkpoint (in a child process): the
    step-3 checkpoint is still whole and loadable, and the run resumes from it to the loss
    of an uninterrupted run. Writing the checkpoint in place (no temporary file + rename)
    leaves a truncated last.pt and fails here."""
    import torch

    from tasks.train.loop import train

    spec = nano_spec()
    full = train(packed[0], tok[1], tmp_path / "full", spec, progress=False)
    killed = tmp_path / "killed"
    result = subprocess.run(
        [sys.executable, "-c", _KILL_IN_SAVE_SCRIPT, str(packed[0]), str(tok[1]), str(killed), spec.model_dump_json()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert "killed while writing" in result.stdout, result.stdout  # the kill did land inside the write
    last = killed / "checkpoint" / "last.pt"
    state = torch.load(last, weights_only=False)  # whole: a truncated file does not load
    assert state["step"] == 3 and len(state["curves"]) == 3
    resumed = train(packed[0], tok[1], killed, spec, progress=False)
    assert resumed["resumed_from_step"] == 3
    assert [c["loss"] for c in resumed["curves"]] == [c["loss"] for c in full["curves"]]
    assert resumed["final_loss"] == full["final_loss"]
    assert not (killed / "checkpoint").exists()  # the half-written temporary file went with it


def test_resume_is_bit_exact_whatever_the_ambient_thread_count(packed, tok, tmp_path):
    """CPU float reductions are split by thread (a 600k-float sum differs in its last bits
    between 1 and 2 threads with torch 2.13 here), so the thread count can change the loss.
    The loop pins its own count (recorded in the checkpoint, reused on resume) and gives
    the caller's back, so what ran before in the process does not matter."""
    import torch

    from tasks.train.loop import default_threads, train

    spec = nano_spec()
    ambient = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # e.g. flows.select pins 1 thread for its Dask workers
        plain = train(packed[0], tok[1], tmp_path / "plain", spec, stop_after_steps=1, progress=False)
        assert plain["threads"] == default_threads() and torch.get_num_threads() == 1  # given back
        full = train(packed[0], tok[1], tmp_path / "full", spec, progress=False, threads=2)
        part = train(packed[0], tok[1], tmp_path / "resumed", spec, stop_after_steps=5, progress=False, threads=2)
        torch.set_num_threads(3)  # another ambient count, and no `threads`: the checkpoint's count wins
        resumed = train(packed[0], tok[1], tmp_path / "resumed", spec, progress=False)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(ambient)
    assert part["stopped_at_step"] == 5 and resumed["resumed_from_step"] == 5
    assert full["threads"] == part["threads"] == resumed["threads"] == 2
    assert [c["loss"] for c in resumed["curves"]] == [c["loss"] for c in full["curves"]]


def test_saved_model_loads_with_auto_classes(packed, tok, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tasks.train.loop import train
    from tasks.train.model import bits_per_byte

    out = tmp_path / "m"
    summary = train(packed[0], tok[1], out, nano_spec(tokens=SEQ * 4 * 4, precision="auto"), progress=False)
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "curves.csv",
        "curves.parquet",
        "curves.png",
        "train.json",
    ):
        assert (out / name).exists(), name
    model = AutoModelForCausalLM.from_pretrained(str(out))
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert model.config.model_type == "llama" and tokenizer.eos_token_id == model.config.eos_token_id
    assert summary["n_params"] < 1_000_000 and summary["epochs"] > 0
    ids = tokenizer("The history of the city", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer)) and torch.isfinite(logits).all()
    score = bits_per_byte(model, tokenizer, wiki_leads("heldout").column("text").to_pylist()[:5], max_len=SEQ)
    assert 0 < score["bpb"] < 12 and score["bytes"] > 0
    saved = json.loads((out / "train.json").read_text())
    assert saved["final_loss"] == summary["final_loss"]


def test_run_train_records_catalog_and_caches(ws, tok, cc_dataset):
    from flows.train import run_train
    from tasks.core.catalog import Catalog

    spec = nano_spec(tokens=SEQ * 4 * 3, options={"seq_len": SEQ})
    first = run_train(ws, cc_dataset, spec, tokenizer_dir=tok[1]).summary
    second = run_train(ws, cc_dataset, spec, tokenizer_dir=tok[1]).summary
    assert not first["cached"] and second["cached"] and first["train_hash"] == second["train_hash"]
    rows = Catalog(ws.catalog_path).query("train_run", [first["train_hash"]])
    assert len(rows) == 1 and rows[0]["cached"] and rows[0]["steps"] == 3
    curve = Catalog(ws.catalog_path).query("train_curve", [first["train_hash"]])
    assert [r["step"] for r in curve] == [1, 2, 3]


@pytest.mark.slow
def test_train_flow_end_to_end(tmp_path, cc_dataset, tok, monkeypatch):
    """The Prefect flow (default task runner here; Dask in the CLI) on a real dataset."""
    from flows._runtime import prefect_api
    from flows.train import train_flow
    from tasks.core.catalog import Catalog

    home = tmp_path / "flow_ws"
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with prefect_api():  # one subprocess API server, patient start-up on a busy machine
        result = train_flow(str(cc_dataset), preset="nano", tokens=4 * 256, workspace=str(home), tokenizer=str(tok[1]))
    assert result["steps"] == 1 and not result["cached"]
    assert (tmp_path / "flow_ws" / "models" / result["train_hash"][:16] / "_SUCCESS").exists()
    parts = list((home / "tokens" / result["tokens_key"] / "docs").glob("*.index.parquet"))
    assert len(parts) == 2  # one tokenize-part task per dataset part
    assert Catalog(home / "catalog.duckdb").query("train_run", [result["train_hash"]])
