"""HTML -> text extraction quality and speed on the 181 article-extraction-benchmark pages.

Gold: ../shared/data/extraction/article-extraction-benchmark-ground-truth.json.gz
({id: {url, articleBody}}); the pages themselves are response records inside
../shared/data/crawl/webpages-trafilatura-aeb.warc.gz, matched by URL. Every page is
decoded the way ingestion decodes it (tasks.ingest.extract.decode_html); each candidate then
extracts text, and we score bag-of-words token precision / recall / F1 against the gold
body (lower-cased \\w+ tokens, multiset overlap), micro (pooled over all pages) and
macro (mean over pages), plus pages/s of extraction alone on one core.

    PYTHONPATH=. python bench/extraction_quality.py
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
GOLD = DATA / "extraction" / "article-extraction-benchmark-ground-truth.json.gz"
WARC = DATA / "crawl" / "webpages-trafilatura-aeb.warc.gz"

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> Counter:
    return Counter(t.lower() for t in _TOKEN.findall(text or ""))


def _resiliparse(**kw):
    from resiliparse.extract.html2text import extract_plain_text

    return lambda html: extract_plain_text(html, **kw)


def _trafilatura(**kw):
    import trafilatura

    return lambda html: trafilatura.extract(html, **kw) or ""


def candidates():
    from tasks.ingest.extract import extract_text

    return {
        "resiliparse main_content (winnow default)": lambda html: extract_text(html, "resiliparse"),
        "resiliparse main_content, library defaults": _resiliparse(main_content=True),
        "resiliparse all visible text": lambda html: extract_text(html, "resiliparse-plain"),
        "trafilatura 1.11 (winnow option)": lambda html: extract_text(html, "trafilatura"),
        "trafilatura 1.11 favor_precision": _trafilatura(include_comments=False, favor_precision=True),
        "trafilatura 1.11 favor_recall": _trafilatura(include_comments=False, favor_recall=True),
    }


def load_pages() -> list[tuple[str, str, str]]:
    """(url, decoded html, gold text) for every gold page found in the WARC."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from tasks.ingest.extract import decode_html

    gold = json.loads(gzip.decompress(GOLD.read_bytes()))
    by_url = {v["url"]: v["articleBody"] for v in gold.values()}
    pages = {}
    with open(WARC, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            url = rec.headers.get("WARC-Target-URI")
            if url in by_url and url not in pages:
                pages[url] = decode_html(rec.reader.read(), rec.http_charset).text
    missing = set(by_url) - set(pages)
    if missing:
        print(f"warning: {len(missing)} gold pages not found in the WARC", file=sys.stderr)
    return [(u, pages[u], by_url[u]) for u in sorted(pages)]


def score(pages, extract) -> dict:
    inter = pred_n = gold_n = 0
    ps, rs, fs = [], [], []
    t = 0.0
    for _, html, gold in pages:
        t0 = time.perf_counter()
        text = extract(html)
        t += time.perf_counter() - t0
        p, g = tokens(text), tokens(gold)
        i = sum((p & g).values())
        inter, pred_n, gold_n = inter + i, pred_n + sum(p.values()), gold_n + sum(g.values())
        prec = i / sum(p.values()) if p else 0.0
        rec = i / sum(g.values()) if g else 0.0
        ps.append(prec), rs.append(rec), fs.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    mp, mr = inter / pred_n, inter / gold_n
    n = len(pages)
    return {
        "micro_p": mp,
        "micro_r": mr,
        "micro_f1": 2 * mp * mr / (mp + mr),
        "macro_p": sum(ps) / n,
        "macro_r": sum(rs) / n,
        "macro_f1": sum(fs) / n,
        "pages_per_s": n / t,
        "seconds": t,
    }


def main() -> int:
    pages = load_pages()
    print(f"{len(pages)} gold pages, {sum(len(h) for _, h, _ in pages) / 1e6:.1f} M HTML characters\n")
    rows = []
    for name, fn in candidates().items():
        fn(pages[0][1])  # warm up (imports, lazy init)
        rows.append((name, score(pages, fn)))
        print(f"  {name}: F1 {rows[-1][1]['micro_f1']:.3f}, {rows[-1][1]['pages_per_s']:.1f} pages/s", file=sys.stderr)
    print("| extractor | micro P | micro R | micro F1 | macro P | macro R | macro F1 | pages/s (1 core) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in rows:
        print(
            f"| {name} | {s['micro_p']:.3f} | {s['micro_r']:.3f} | {s['micro_f1']:.3f} | {s['macro_p']:.3f} | "
            f"{s['macro_r']:.3f} | {s['macro_f1']:.3f} | {s['pages_per_s']:.1f} |"
        )
    base = dict(rows)["resiliparse main_content (winnow default)"]
    traf = dict(rows)["trafilatura 1.11 (winnow option)"]
    print(
        f"\nresiliparse default vs trafilatura: {base['pages_per_s'] / traf['pages_per_s']:.1f}x the speed, "
        f"macro F1 {base['macro_f1']:.3f} vs {traf['macro_f1']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
