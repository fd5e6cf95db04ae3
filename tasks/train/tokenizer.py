"""The suite tokenizer: a byte-level BPE (HF `tokenizers`) trained once on a fixed
reference sample and shared by every arm, so arms differ only in their data.

Saved as a transformers `PreTrainedTokenizerFast` (`save_pretrained`), so the training
loop, `AutoTokenizer` and `lm_eval --model hf` all load the same files. One special
token, `<|endoftext|>`, serves as EOS, BOS, pad and unk (GPT-2 convention): documents
are joined by it when packed, and lm-eval's rolling log-likelihood uses it as the
first context token.

Layout: `tokenizers/<hash16>/` (tokenizer.json, tokenizer_config.json, ...,
`reference.json` describing the sample, `_SUCCESS`), where the hash covers the sample's
text, the vocabulary size and TOKENIZER_VERSION (tasks/train/spec.py).
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from tasks.core.hashing import hash_json, hash_text, short
from tasks.core.paths import shared_data
from tasks.core.workspace import Workspace
from tasks.train.spec import TOKENIZER_VERSION

EOS = "<|endoftext|>"
# Bytes of the tokenizer's reference sample: enough for a 32k vocabulary, seconds to train.
DEFAULT_SAMPLE_BYTES = 8_000_000


def reference_texts(max_bytes: int = DEFAULT_SAMPLE_BYTES, crawl_path: str | Path | None = None) -> list[str]:
    """The fixed reference sample: Wikipedia leads (train split, title order) and the
    real Common Crawl sample documents, interleaved, cut at `max_bytes` of UTF-8.

    Deterministic: the same inputs give the same list on every machine. Held-out leads
    are never included (tasks/core/reference.py owns that split).
    """
    from tasks.core.reference import wiki_leads

    wiki = wiki_leads("train").column("text").to_pylist()
    crawl = _crawl_texts(crawl_path)
    texts: list[str] = []
    total = 0
    # Interleave 3 leads : 1 crawl doc, so a small cut still sees both registers.
    w = c = 0
    while (w < len(wiki) or c < len(crawl)) and total < max_bytes:
        take = [wiki[w + i] for i in range(3) if w + i < len(wiki)]
        w += 3
        if c < len(crawl):
            take.append(crawl[c])
            c += 1
        for t in take:
            texts.append(t)
            total += len(t.encode("utf-8"))
    return texts


def _crawl_texts(crawl_path: str | Path | None) -> list[str]:
    path = Path(crawl_path) if crawl_path else (shared_data() / "crawl" / "CC-MAIN-2019-30-sample.jsonl.gz")
    if not path.exists():
        raise FileNotFoundError(
            f"tokenizer reference sample: crawl file {path} not found "
            "(expected ../shared/data/crawl/CC-MAIN-2019-30-sample.jsonl.gz)"
        )
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def tokenizer_hash(texts: Sequence[str], vocab_size: int) -> str:
    return hash_json({"sample": hash_text("\x00".join(texts)), "vocab_size": vocab_size, "version": TOKENIZER_VERSION})


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path, model_max_length: int = 1_000_000_000):
    """Train a byte-level BPE on `texts` and save it as a PreTrainedTokenizerFast in `out_dir`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300 or vocab_size >= 2**32:
        raise ValueError(f"vocab_size {vocab_size} out of range: needs 256 bytes + merges + {EOS}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=model_max_length,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return fast


def build_tokenizer(
    workspace: Workspace, vocab_size: int, texts: Sequence[str] | None = None, model_max_length: int = 1_000_000_000
) -> tuple[str, Path]:
    """The suite tokenizer for `vocab_size`, trained once and cached by content hash.

    Returns (tokenizer hash, folder). `texts` defaults to `reference_texts()`.
    """
    texts = list(texts) if texts is not None else reference_texts()
    if not texts:
        raise ValueError("tokenizer reference sample is empty")
    digest = tokenizer_hash(texts, vocab_size)
    key = short(digest)
    folder = workspace.stage_dir("tokenizers", key)
    if workspace.is_done("tokenizers", key):
        return digest, folder
    with workspace.claim("tokenizers", key) as claim:
        if claim.todo:
            _train_into(texts, vocab_size, digest, folder, model_max_length)
            workspace.mark_done("tokenizers", key, json.loads((folder / "reference.json").read_text()))
    return digest, folder


def _train_into(texts: list[str], vocab_size: int, digest: str, folder: Path, model_max_length: int) -> None:
    key = folder.name
    tmp = folder.with_name(f".{key}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    fast = train_tokenizer(texts, vocab_size, tmp, model_max_length=model_max_length)
    info = {
        "tokenizer_hash": digest,
        "vocab_size": len(fast),
        "requested_vocab_size": vocab_size,
        "eos_id": fast.eos_token_id,
        "n_texts": len(texts),
        "n_bytes": sum(len(t.encode("utf-8")) for t in texts),
        "version": TOKENIZER_VERSION,
    }
    (tmp / "reference.json").write_text(json.dumps(info, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def load_tokenizer(folder: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def tokenizer_hash_of(folder: str | Path) -> str:
    """The content hash recorded when the tokenizer was built (or of its files)."""
    folder = Path(folder)
    ref = folder / "reference.json"
    if ref.exists():
        return json.loads(ref.read_text())["tokenizer_hash"]
    return hash_text((folder / "tokenizer.json").read_text())
