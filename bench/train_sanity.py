"""Sanity check a researcher would run first: a proxy trained on Wikipedia-like text
must score better bits per byte on held-out Wikipedia leads than one trained on the
same number of tokens of unfiltered crawl, and both must beat an untrained model.

    PYTHONPATH=. python bench/train_sanity.py [--preset tiny] [--tokens 400000]

Same tokenizer, preset, seed and token budget for both arms; only the data differs.
Writes bench/out/train_sanity.json. BPB is computed here (sum of token NLL / bytes,
lm-eval's rolling windows); the evaluation stage measures it again through lm-eval.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def write_dataset(folder: Path, source: str, doc_ids, texts, n_parts: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    n = len(texts)
    for i in range(n_parts):
        a, b = i * n // n_parts, (i + 1) * n // n_parts
        pq.write_table(
            pa.table(
                {
                    "doc_id": doc_ids[a:b],
                    "source": [source] * (b - a),
                    "url": [""] * (b - a),
                    "text": texts[a:b],
                    "repeat": pa.array([1] * (b - a), pa.int64()),
                }
            ),
            folder / f"part-{i:05d}.parquet",
        )
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--tokens", type=int, default=400_000, help="training tokens per arm")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--eval-docs", type=int, default=300, help="held-out leads scored")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workspace", default=str(ROOT / "bench" / "out" / "sanity_ws"))
    args = ap.parse_args()

    import torch

    from tasks.core.reference import wiki_leads
    from tasks.core.workspace import Workspace
    from tasks.train.loop import train
    from tasks.train.model import bits_per_byte, build_model
    from tasks.train.spec import TrainSpec, get_preset
    from tasks.train.tokenizer import build_tokenizer, load_tokenizer, reference_texts
    from tasks.train.tokens import tokenize_dataset

    torch.set_num_threads(args.threads)
    ws = Workspace.from_env(args.workspace)
    preset = get_preset(args.preset)
    tok_hash, tok_dir = build_tokenizer(ws, preset.vocab_size, reference_texts())
    tok = load_tokenizer(tok_dir)

    wiki = wiki_leads("train")
    crawl_path = ROOT.parent / "shared" / "data" / "crawl" / "CC-MAIN-2019-30-sample.jsonl.gz"
    with gzip.open(crawl_path, "rt") as f:
        recs = [json.loads(line) for line in f]
    arms = {
        "wiki_leads": write_dataset(
            ws.root / "in" / "wiki", "wiki", wiki.column("title").to_pylist(), wiki.column("text").to_pylist()
        ),
        "cc_crawl": write_dataset(ws.root / "in" / "cc", "cc", [str(r["id"]) for r in recs], [r["text"] for r in recs]),
    }
    heldout = wiki_leads("heldout").column("text").to_pylist()[: args.eval_docs]
    spec = TrainSpec(preset=args.preset, tokens=args.tokens, seed=0)

    results = {}
    untrained = build_model(args.preset, vocab_size=len(tok), eos_id=tok.eos_token_id, seed=0)
    untrained.config.max_position_embeddings = args.seq_len
    results["untrained"] = bits_per_byte(untrained, tok, heldout, max_len=args.seq_len)
    for arm, folder in arms.items():
        packed, meta = tokenize_dataset(ws, folder, tok_dir, args.seq_len, spec.seed)
        t0 = time.time()
        summary = train(packed, tok_dir, ws.root / "models" / arm, spec, progress=True, threads=args.threads)
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(ws.root / "models" / arm))
        score = bits_per_byte(model, tok, heldout, max_len=args.seq_len)
        score.update(
            {
                "train_tokens": summary["tokens_trained"],
                "epochs": summary["epochs"],
                "dataset_tokens": meta["n_tokens"],
                "final_loss": summary["final_loss_avg10"],
                "train_seconds": round(time.time() - t0, 1),
                "tokens_per_s": summary["tokens_per_s"],
            }
        )
        results[arm] = score
        print(arm, json.dumps(score), flush=True)
    print(f"\nheld-out Wikipedia leads ({len(heldout)} docs), preset {args.preset}, {args.tokens} tokens/arm")
    print(f"{'model':<12} {'bits/byte':>9}")
    for name, r in results.items():
        print(f"{name:<12} {r['bpb']:9.4f}")
    ok = results["wiki_leads"]["bpb"] < results["cc_crawl"]["bpb"] < results["untrained"]["bpb"]
    print("sanity:", "PASS" if ok else "FAIL")
    out = ROOT / "bench" / "out" / "train_sanity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": results, "pass": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
