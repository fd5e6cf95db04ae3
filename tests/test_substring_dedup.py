"""Exact-substring dedup (tasks/dedup/substring.py): against brute force, planted spans on
real documents, the min_len threshold, the exclusion sample, and unchanged recipe hashes."""

from __future__ import annotations

import glob
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tasks.core.docsref import DocsRef
from tasks.dedup.dedup import dedup_key, run_dedup
from tasks.dedup.spec import DedupSpec, SubstringDedupSpec
from tasks.dedup.substring import cut_repeats, repeated_positions
from tasks.recipe import load_recipe
from tests.dedup_helpers import cc_texts, docs_table, write_source


def _brute(seqs: list[list[int]], min_len: int, keep: str) -> list[np.ndarray]:
    """Mark every window of min_len units that also occurs elsewhere (keep none) or
    starts earlier (keep first), within sequences only."""
    where: dict[tuple, list[tuple[int, int]]] = {}
    for d, s in enumerate(seqs):
        for i in range(len(s) - min_len + 1):
            where.setdefault(tuple(s[i : i + min_len]), []).append((d, i))
    out = [np.zeros(len(s), bool) for s in seqs]
    for occ in where.values():
        if len(occ) < 2:
            continue
        for d, i in occ[1:] if keep == "first" else occ:
            out[d][i : i + min_len] = True
    return out


@pytest.mark.parametrize("keep", ["first", "none"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32])
def test_repeated_positions_match_brute_force(keep, dtype):
    rng = np.random.default_rng(7)
    for trial in range(30):
        seqs = [list(rng.integers(0, 3, size=rng.integers(0, 25))) for _ in range(rng.integers(1, 6))]
        min_len = int(rng.integers(2, 6))
        got = repeated_positions([np.array(s, dtype=dtype) for s in seqs], min_len, keep)
        want = _brute(seqs, min_len, keep)
        for g, w in zip(got, want, strict=True):
            assert g.tolist() == w.tolist(), (trial, seqs, min_len)


def _distinct_real_texts(n: int) -> list[str]:
    """Real CC documents that share no 50-byte span with each other (so a cut is planted)."""
    texts = [t for t in cc_texts() if 400 < len(t) < 3000][:40]
    spans = cut_repeats(texts, SubstringDedupSpec(min_len=50))
    return [t for t, s in zip(texts, spans, strict=True) if not s][:n]


def test_planted_spans_are_removed_and_only_they(workspace):
    texts = _distinct_real_texts(8)
    donor = texts[0]
    planted = donor[100:220]  # 120 characters of a real document, repeated twice later
    short = donor[300:340]  # 40 characters: below min_len, kept
    # each copy between its own marks, so that no match runs past the planted span
    texts[3] = texts[3][:200] + "§" + planted + "¶" + texts[3][200:]
    texts[5] = texts[5][:50] + "†" + planted + "‡" + texts[5][50:] + short
    texts[6] = "Hi " + planted  # all but 3 characters a copy: dropped
    ref = write_source(workspace, "crawl", docs_table(texts), shards=1)
    spec = DedupSpec(substring={"min_len": 50, "min_chars": 10})
    result = run_dedup(workspace, [ref], spec)
    cut = pq.read_table(result.dir / "substring.parquet").to_pandas().set_index("doc_id")
    assert sorted(cut.index) == ["d000003", "d000005", "d000006"]  # the first occurrence (d000000) stays whole
    assert cut["emptied"].tolist() == [False, False, True]
    assert result.stats["removed"]["substring"] == 1
    assert not pq.read_table(result.clusters_path).to_pandas().set_index("doc_id").loc["d000006", "keep"]
    for doc, pos in (("d000003", 201), ("d000005", 51)):
        assert json.loads(cut.loc[doc, "spans"]) == [[pos, pos + len(planted)]]
        assert cut.loc[doc, "text"] == texts[int(doc[1:])].replace(planted, "", 1)
    assert short in cut.loc["d000005", "text"]
    assert result.stats["substring"]["chars_removed"] == 3 * len(planted)


def test_one_suffix_array_per_shard_each_a_job_of_the_map(workspace):
    texts = _distinct_real_texts(6)
    planted = texts[0][20:140]
    texts[1] += " " + planted  # same shard as the first occurrence (rows 0-2): cut
    texts[4] += " " + planted  # the other shard (rows 3-5): kept with per: shard
    ref = write_source(workspace, "crawl", docs_table(texts), shards=2)
    jobs = []

    def recording_map(fn, items):
        jobs.extend(items)
        return [fn(x) for x in items]

    spec = DedupSpec(substring={"min_len": 50, "min_chars": 10})
    result = run_dedup(workspace, [ref], spec, map_fn=recording_map)
    assert [len(j.texts) for j in jobs] == [3, 3] and result.stats["substring"]["units"] == 2
    cut = pq.read_table(result.dir / "substring.parquet").column("doc_id").to_pylist()
    assert cut == ["d000001"]
    whole = run_dedup(workspace, [ref], DedupSpec(substring={"min_len": 50, "min_chars": 10, "per": "scope"}))
    assert pq.read_table(whole.dir / "substring.parquet").column("doc_id").to_pylist() == ["d000001", "d000004"]


def test_every_copy_struck_with_keep_none_and_only_later_ones_with_keep_first():
    a, b = "x" * 30 + "The quick brown fox jumps over the lazy dog again and again. ", "Tiny. "
    texts = [a + "one", b + a[30:], "An unrelated sentence that shares nothing long with the others."]
    spans = cut_repeats(texts, SubstringDedupSpec(min_len=50, keep="none"))
    assert spans[0] and spans[1] and not spans[2]
    first = cut_repeats(texts, SubstringDedupSpec(min_len=50))
    assert not first[0] and first[1] == [(len(b), len(b) + len(a) - 30)]


def test_byte_spans_cut_whole_characters_only():
    shared = "Grüße aus Köln – schöne Stadt am Rhein, wirklich schön!"
    # é (C3 A9) and ĩ (C4 A9) share their last byte: the byte match starts inside ĩ,
    # which must stay whole (a character goes only when all its bytes are marked)
    texts = ["Anfang é" + shared, "Ende ĩ" + shared + " ok"]
    spans = cut_repeats(texts, SubstringDedupSpec(min_len=20))
    assert spans == [[], [(6, 6 + len(shared))]]


def test_removed_spans_reach_the_exclusion_sample(workspace):
    from tasks.curate.exclusions import ExclusionSampler, Explained, SampleConfig
    from tasks.dedup.apply import apply_dedup
    from tasks.dedup.inputs import connect

    texts = _distinct_real_texts(5)
    planted = texts[0][50:200]
    texts[2] = texts[2] + " " + planted
    ref = write_source(workspace, "crawl", docs_table(texts), shards=1)
    spec = DedupSpec(substring={"min_len": 50, "min_chars": 10})
    con = connect()
    con.register("docs_in", docs_table(texts).select(["doc_id", "text"]))
    kept, stats = apply_dedup(con, con.table("docs_in"), spec, workspace, [ref], explain=True)
    rows = {r["doc_id"]: r["text"] for r in kept.fetch_arrow_table().to_pylist()}
    assert planted not in rows["d000002"] and planted in rows["d000000"]
    cut = stats["rewritten"][0]
    sampler = ExclusionSampler(con, SampleConfig(n=5))
    sampler.record_rewritten("dedup", Explained(stats["losers"], rewritten=cut))
    sampler._documents = lambda ids: {}  # the sample query alone; texts come from the docs view in curate
    table = sampler.table().to_pylist()
    assert [(r["reason"], r["doc_id"]) for r in table] == [("dedup.substring.spans", "d000002")]
    assert json.loads(json.loads(table[0]["detail"])["span_texts"]) == [planted]


# Hashes of every recipe in recipes/ and of two dedup keys, computed by the code before
# the substring mode existed (main at 757ce6e): a mode that is off must not move them.
OLD_HASHES = {
    "dsir": ("6f81b8bb0e919814", "17386ef46e13c797"),
    "fasttext_threshold": ("34ff96dbd37adcfb", "f2dd454db23d0eb9"),
    "fasttext_top": ("40c18473586e5797", "b5ab5b510086baf2"),
    "gopher": ("d5de0a0b6f17124a", "3420562553bd257d"),
    "heuristic": ("a960e0f6b2d1bda0", "6a9d59b3d5e8d48f"),
    "heuristic_strict": ("74f27a8e506b131b", "e8fbfe8213fd294e"),
    "mixture": ("47369c824a5f765a", "16abfed566c7a6a9"),
    "no_filter": ("9b2eeab8817ac35e", "35c57620a558b416"),
    "perplexity": ("cbd01efbf9a635fc", "8699aff93e1e5110"),
    "random": ("b0423d7d0910c4e7", "13952077c8739a78"),
    "semdedup": ("326468fd9347a128", "91831cc0bb930c09"),
    "temperature": ("cd7f17b74dc99fa9", "d146a0f02eecc6ef"),
}


def test_recipes_without_substring_keep_their_hashes():
    from tasks.core.paths import project_root

    found = {}
    for path in sorted(glob.glob(str(project_root() / "recipes" / "*.yaml"))):
        r = load_recipe(path)
        found[r.name] = (r.data_hash()[:16], r.content_hash()[:16])
    assert found == OLD_HASHES
    ref = DocsRef("crawl", "k", "h" * 64, ())
    assert dedup_key([ref], [], DedupSpec(exact=True)) == "eef6009963391937"
    assert dedup_key([ref], [], DedupSpec(exact=True, url=True, minhash=True, lines=True)) == "2502b7256cc1b2a0"
    on = load_recipe(project_root() / "recipes" / "semdedup.yaml").model_copy(
        update={"dedup": DedupSpec(exact=True, substring=True)}
    )
    assert on.data_hash()[:16] != OLD_HASHES["semdedup"][0]
