"""Same output as an earlier revision's extractor, on every page of the project's corpora.

For a change meant to make extraction faster without changing what it extracts (issue 23:
the box passes made linear): loads tasks/ingest/extract.py as it was at `--old REV` (git
show) beside the current one and, on every HTML page of
  - every WARC under ../shared/data/crawl/ (read and decoded as ingestion does; this holds
    the 181 gold pages of corpus 1, the news pages of bench/extraction_news.json and the
    hand-checked pages of bench/extraction_handchecked.json),
  - every .html file of the Debian documentation packages under $WINNOW_EXTERNAL/debian
    (those of bench/extraction_snippets.py, plus linux-doc where unpacked),
compares (text, extractor) of `extract(html, "resiliparse")` and of "resiliparse-old" and,
where the box passes run, the tree they leave (serialised HTML) and their counts. Prints
how many pages were compared and how many differ, with per-page CPU times of the default
extractor in both revisions (slowest page, 99th percentile).

    PYTHONPATH=. WINNOW_EXTERNAL=... python bench/extraction_equivalence.py --old REV [--limit N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tasks.core.paths import shared_data  # noqa: E402


def load_old(rev: str, tmp: Path):
    source = subprocess.run(
        ["git", "show", f"{rev}:tasks/ingest/extract.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = tmp / "extract_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("extract_old", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["extract_old"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def pages(limit: int | None):
    """(corpus, name, html) for every page; html decoded as ingestion decodes it."""
    from tasks.core.external import external_dir
    from tasks.ingest.decode import Undecodable, decode_html
    from tasks.ingest.readers import read_records
    from tasks.ingest.records import Content

    n = 0
    for warc in sorted((shared_data() / "crawl").glob("*.warc.gz")):
        for rec in read_records(str(warc)):
            if not isinstance(rec, Content) or rec.payload is None:
                continue
            try:
                html = decode_html(rec.payload, rec.charset).text
            except Undecodable:
                continue
            yield f"crawl/{warc.name}", f"{warc.name}@{rec.offset}", html
            n += 1
            if limit and n >= limit:
                return
    debian = external_dir() / "debian"
    for package in sorted(p for p in debian.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for f in sorted(package.rglob("*.html")):
            try:
                html = decode_html(f.read_bytes()).text
            except Undecodable:
                continue
            yield f"debian/{package.name}", str(f.relative_to(debian)), html
            n += 1
            if limit and n >= limit:
                return


def _timed(fn, *args):
    t0 = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t0


def _tree_after_passes(module, html: str):
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    counts = (module.keep_in_text_boxes(tree), module.keep_wrappers_of_the_article(tree))
    return counts, tree.document.html


DEPTHS = (32, 64, 128, 256)


def depth_at_least(html: str) -> int:
    """The largest of DEPTHS that some element of the page reaches (0: none)."""
    from resiliparse.parse.html import HTMLTree

    doc = HTMLTree.parse(html).document
    reached = [d for d in DEPTHS if doc is not None and doc.query_selector(" > ".join(["*"] * d)) is not None]
    return max(reached, default=0)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="git revision whose extract.py is the reference")
    ap.add_argument("--limit", type=int, help="only the first N pages (quick check)")
    a = ap.parse_args()
    from tasks.ingest import extract as new

    with tempfile.TemporaryDirectory() as tmp:
        old = load_old(a.old, Path(tmp))
    compared: Counter = Counter()
    differ: list[str] = []
    box_pages = boxes_kept = wrappers = 0
    t_old: list[tuple[float, str]] = []
    t_new: list[tuple[float, str]] = []
    depth: Counter = Counter()
    largest = (0, "")
    for corpus, name, html in pages(a.limit):
        compared[corpus] += 1
        o, to = _timed(old.extract, html, "resiliparse")
        n, tn = _timed(new.extract, html, "resiliparse")
        depth[depth_at_least(html)] += 1
        largest = max(largest, (len(html), name))
        t_old.append((to, name))
        t_new.append((tn, name))
        if o != n:
            differ.append(f"{name}: default {o[1]} {len(o[0])} chars vs {n[1]} {len(n[0])} chars")
        if old.extract(html, "resiliparse-old") != new.extract(html, "resiliparse-old"):
            differ.append(f"{name}: resiliparse-old differs")
        if any(c in html for c in new._DOM_PASS_MARKERS):
            (oc, oh), (nc, nh) = _tree_after_passes(old, html), _tree_after_passes(new, html)
            box_pages += 1
            boxes_kept += nc[0]
            wrappers += nc[1]
            if (oc, oh) != (nc, nh):
                differ.append(f"{name}: box passes differ ({oc} vs {nc}, trees {'equal' if oh == nh else 'differ'})")
        total = sum(compared.values())
        if total % 500 == 0:
            print(f"  {total} pages, {len(differ)} differ", file=sys.stderr, flush=True)

    total = sum(compared.values())
    print(f"old = {a.old}, new = working tree\n")
    print("| corpus | pages |\n|---|---:|")
    for corpus, k in sorted(compared.items()):
        print(f"| {corpus} | {k:,} |")
    print(f"| all | {total:,} |\n")
    print(
        f"pages where the box passes ran: {box_pages:,} ({boxes_kept:,} boxes kept, {wrappers:,} article wrappers "
        "changed); their trees compared after the passes"
    )
    print(
        "pages by nesting depth reached: "
        + ", ".join(f">= {d}: {depth[d]:,}" if d else f"< {DEPTHS[0]}: {depth[d]:,}" for d in (0, *DEPTHS))
    )
    print(f"largest page: {largest[0]:,} characters ({largest[1]})")
    for label, ts in (("old", t_old), ("new", t_new)):
        slow = max(ts)
        cpu = [t for t, _ in ts]
        print(
            f"default extractor, {label}: {sum(cpu):.1f} CPU-s in all, p99 {pct(cpu, 0.99) * 1000:.1f} ms, "
            f"slowest {slow[0]:.3f} s ({slow[1]})"
        )
    print(f"\n{total:,} pages compared, {len(differ)} differ")
    for line in differ[:50]:
        print("  " + line)
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
