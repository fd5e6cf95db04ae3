"""bench/stage_costs.py --shard-docs: the replication that builds a big docs shard from the
sample, and the least-squares line its memory figures come from (docs/scaling.md)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pyarrow as pa
import pytest


@pytest.fixture(scope="module")
def sc():
    # The bench pins thread-count variables at import; keep them out of this test process.
    saved = dict(os.environ)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        yield importlib.import_module("stage_costs")
    finally:
        sys.path.pop(0)
        os.environ.clear()
        os.environ.update(saved)


def _base() -> pa.Table:
    return pa.table(
        {
            "doc_id": ["d0", "d1", "d2"],
            "text": ["Hello, world 42.", "Café au lait", "x_y 7"],
            "n_chars": pa.array([16, 12, 5], pa.int32()),
        }
    )


def test_replicate_cycles_rows_with_new_unique_ids(sc):
    out = sc.replicate_docs(_base(), 7)
    assert out.num_rows == 7
    assert out.column("text").to_pylist() == [_base().column("text")[i % 3].as_py() for i in range(7)]
    ids = out.column("doc_id").to_pylist()
    assert ids[:3] == ["d0", "d1", "d2"]  # copy 0 keeps its ids
    assert len(set(ids)) == 7
    assert ids[3] != "d0" and ids[6] != ids[3]  # copies 1 and 2 of d0 differ from it and each other
    assert out.column("n_chars").to_pylist() == [16, 12, 5, 16, 12, 5, 16]


def test_replicate_words_gives_each_copy_its_own_vocabulary(sc):
    out = sc.replicate_docs(_base(), 9, vary="words")
    texts = out.column("text").to_pylist()
    assert texts[:3] == _base().column("text").to_pylist()
    assert texts[3] == "Helloa, worlda 42."  # copy 1: suffix "a"; digits untouched
    assert texts[7] == "Caféb aub laitb"  # copy 2: suffix "b"
    assert texts[5] == "xa_ya 7"  # "_" splits words
    assert out.column("n_chars").to_pylist()[3:5] == [18, 15]
    assert [sc._copy_tag(k) for k in (1, 26, 27, 702, 703)] == ["a", "z", "aa", "zz", "aaa"]


def test_replicate_rejects_bad_input(sc):
    with pytest.raises(ValueError, match="need documents"):
        sc.replicate_docs(_base().slice(0, 0), 5)
    with pytest.raises(ValueError, match="unknown vary"):
        sc.replicate_docs(_base(), 5, vary="shuffle")
    dup = pa.table({"doc_id": ["a", "a"], "text": ["x", "y"], "n_chars": pa.array([1, 1], pa.int32())})
    with pytest.raises(ValueError, match="not unique"):
        sc.replicate_docs(dup, 2)


def test_fit_line(sc):
    a, b, resid = sc.fit_line([2.0, 10.0, 35.0], [100.0 + 20 * x for x in (2.0, 10.0, 35.0)])
    assert (round(a, 9), round(b, 9), round(resid, 9)) == (100.0, 20.0, 0.0)
    a, b, resid = sc.fit_line([1, 2, 3], [2, 4, 6.5])
    assert b == pytest.approx(2.25) and a == pytest.approx(-1 / 3) and resid == pytest.approx(1 / 6)
