"""HTML -> text extraction quality and speed on two annotated corpora, in one run.

Corpus 1, article-extraction-benchmark (181 news/blog pages): gold bodies in
../shared/data/extraction/article-extraction-benchmark-ground-truth.json.gz ({id: {url,
articleBody}}); the pages are response records inside
../shared/data/crawl/webpages-trafilatura-aeb.warc.gz, matched by URL. Scored with bag-of-words
token precision / recall / F1 against the gold body (lower-cased \\w+ tokens, multiset
overlap), micro (pooled) and macro (mean over pages). The old default was tuned on all of
it, so it is reported whole and split in two halves by URL hash: A (the line pass of the new
default was tuned on it) and B (never looked at while tuning).

Corpus 2, documentation sites from Debian packages (python3.11-doc, postgresql-doc-15,
debian-handbook in six languages; ~1,000 pages): must-have / must-not snippets derived from
each generator's markup (bench/extraction_snippets.py says how), scored as trafilatura's
evaluation scores (whitespace-free substring matches; precision = TP / (TP + FP), recall =
TP / (TP + FN)). Split `tune` / `test` by path hash; debian-handbook is `test` only.

Corpus 3, hand-checked (bench/extraction_handchecked.json): 14 English pages of the
trafilatura evaluation set in the same WARC, body lines and boilerplate lines marked by
reading each page after the rules were fixed (held out; small: read its interval).

Corpus 4, news/blog pages (bench/extraction_news.json): 45 article pages of the trafilatura
evaluation set in the same WARC (not corpus 1 or 3 pages), 3-4 must-have body sentences and
3-4 must-not boilerplate strings per page picked by reading each page's visible text, split
`tune` / `heldout` by xxh64(url) parity before any extractor ran on them. The news rules of the
default were tuned on `tune` only. Scored as corpus 2.

The default includes the cross-page pass ingestion runs per shard (lines a host repeats at
the edges of most of its pages): in corpora 2 and 4 it runs over each corpus as one batch
(hosts: the documentation site; the URL's host), inside the timed region.

Every page is decoded the way ingestion decodes it (tasks.ingest.decode.decode_html), and
pages/s is extraction alone on one core. The speed ratio of the default to trafilatura is
printed at the end, and per corpus the 99th-percentile and slowest CPU time per page of the
default and of trafilatura (timed page by page in turn; issue 23: one slow page stalls a
worker however fast the average is).

    PYTHONPATH=. WINNOW_EXTERNAL=... python bench/extraction_quality.py
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tasks.core.paths import shared_data  # noqa: E402

DATA = shared_data()
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


NEW, OLD, TRAF = (
    "winnow default (resiliparse + skips + line pass + cross-page pass)",
    "resiliparse-old (previous default)",
    "trafilatura 1.11 (winnow option)",
)


def candidates():
    from tasks.ingest.extract import extract_text

    return {
        NEW: lambda html: extract_text(html, "resiliparse"),
        OLD: lambda html: extract_text(html, "resiliparse-old"),
        "resiliparse main_content, library defaults": _resiliparse(main_content=True),
        "resiliparse all visible text": lambda html: extract_text(html, "resiliparse-plain"),
        TRAF: lambda html: extract_text(html, "trafilatura"),
        "trafilatura 1.11 favor_precision": _trafilatura(include_comments=False, favor_precision=True),
        "trafilatura 1.11 favor_recall": _trafilatura(include_comments=False, favor_recall=True),
    }


def load_pages() -> list[tuple[str, str, str]]:
    """(url, decoded html, gold text) for every gold page found in the WARC."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from tasks.ingest.decode import decode_html

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


def record_at(offset: int, url: str) -> bytes:
    """The HTTP payload of the WARC response record at byte `offset` (checked against its URL)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(WARC, "rb") as f:
        f.seek(offset)
        rec = next(iter(ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True)))
        got = rec.headers.get("WARC-Target-URI")
        if got != url:
            raise ValueError(f"{WARC}: record at {offset} is {got!r}, expected {url!r}")
        return rec.reader.read()


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


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


def batch_extract(htmls, hosts, extract, cross_page: bool) -> tuple[list[str], float]:
    """Texts of a batch of pages and the seconds it took (the cross-page pass included)."""
    from tasks.ingest.host_lines import HostPage, remove_repeated_lines

    t0 = time.perf_counter()
    texts = [extract(html) for html in htmls]
    if cross_page:
        texts = remove_repeated_lines([HostPage(h, x) for h, x in zip(hosts, texts)])
    return texts, time.perf_counter() - t0


def percentile(xs: list[float], q: float) -> float:
    """The q-quantile of xs (nearest rank: the smallest value with >= q of xs at or below it)."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


def paired_speed(htmls, hosts, fns: dict, names: list[str] | None = None) -> dict[str, dict]:
    """Per extractor: pages/s, and the slowest page and 99th-percentile seconds per page,
    each extractor timed page by page in turn (a, b, c, a, b, c, ...) so the load of a
    shared machine falls on all of them alike; the default's cross-page pass is timed on
    top of its own pages (in pages/s, not per page: it runs once over the batch).
    Per-page times are CPU seconds of this process (time.process_time): the slowest page
    of a loaded machine's wall clock is the one that waited longest, not the one that
    cost most."""
    from tasks.ingest.host_lines import HostPage, remove_repeated_lines

    seconds = dict.fromkeys(fns, 0.0)
    per_page: dict[str, list[float]] = {name: [] for name in fns}
    texts: list[str] = []
    for html in htmls:
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            text = fn(html)
            seconds[name] += time.perf_counter() - t0
            per_page[name].append(time.process_time() - c0)
            if name == NEW:
                texts.append(text)
    t0 = time.perf_counter()
    remove_repeated_lines([HostPage(h, x) for h, x in zip(hosts, texts)])
    seconds[NEW] += time.perf_counter() - t0
    out = {}
    for name, t in seconds.items():
        cpu = per_page[name]
        slowest = max(range(len(cpu)), key=cpu.__getitem__)
        out[name] = {
            "pages_per_s": len(htmls) / t,
            "max_s": cpu[slowest],
            "slowest": (names or [str(i) for i in range(len(htmls))])[slowest],
            "p99_s": percentile(cpu, 0.99),
        }
    return out


def score_docs(pages, htmls, extract, cross_page: bool = False) -> tuple[dict, float]:
    """SnippetScore per (site, split) and per split over all sites; pages/s."""
    from extraction_snippets import SnippetScore

    scores: dict[str, SnippetScore] = {}
    texts, t = batch_extract(htmls, [p.site for p in pages], extract, cross_page)
    for page, text in zip(pages, texts):
        for key in (f"{page.site} {page.split}", f"all {page.split}"):
            scores.setdefault(key, SnippetScore()).add(text, page.with_, page.without)
    return scores, len(pages) / t


def main() -> int:
    import xxhash

    sys.path.insert(0, str(ROOT / "bench"))
    from extraction_snippets import build

    from tasks.core.external import debian_package
    from tasks.ingest.decode import decode_html

    pages = load_pages()
    print(
        f"## Corpus 1: {len(pages)} article-extraction-benchmark pages, {sum(len(h) for _, h, _ in pages) / 1e6:.1f} M HTML characters\n"
    )
    halves = {"A (tune)": [], "B (held out)": []}
    for p in pages:
        halves["A (tune)" if xxhash.xxh64_intdigest(p[0]) % 2 == 0 else "B (held out)"].append(p)
    rows = []
    for name, fn in candidates().items():
        fn(pages[0][1])  # warm up (imports, lazy init)
        rows.append((name, score(pages, fn), {h: score(ps, fn) for h, ps in halves.items()}))
        print(f"  {name}: F1 {rows[-1][1]['micro_f1']:.3f}, {rows[-1][1]['pages_per_s']:.1f} pages/s", file=sys.stderr)
    print("| extractor | micro P | micro R | micro F1 | macro P | macro R | macro F1 | pages/s (1 core) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, s, _ in rows:
        print(
            f"| {name} | {s['micro_p']:.3f} | {s['micro_r']:.3f} | {s['micro_f1']:.3f} | {s['macro_p']:.3f} | "
            f"{s['macro_r']:.3f} | {s['macro_f1']:.3f} | {s['pages_per_s']:.1f} |"
        )
    print("\nby half (micro P / R / F1):\n")
    print("| extractor | " + " | ".join(halves) + " |")
    print("|---|" + "---:|" * len(halves))
    for name, _, by in rows:
        cells = [f"{by[h]['micro_p']:.3f} / {by[h]['micro_r']:.3f} / {by[h]['micro_f1']:.3f}" for h in halves]
        print(f"| {name} | " + " | ".join(cells) + " |")

    docs = build(debian_package)
    htmls = [decode_html(p.payload).text for p in docs]
    keys = sorted({f"{p.site} {p.split}" for p in docs}) + ["all tune", "all test"]
    print(f"\n## Corpus 2: {len(docs)} documentation pages (snippets; precision / recall / F1)\n")
    print("| extractor | " + " | ".join(keys) + " | pages/s (1 core) |")
    print("|---|" + "---:|" * (len(keys) + 1))
    speed = {}
    docs_scores = {}
    for name, fn in candidates().items():
        if name not in (NEW, OLD, TRAF):
            continue
        sc, pps = score_docs(docs, htmls, fn, cross_page=name == NEW)
        speed[name] = pps
        docs_scores[name] = sc
        cells = [f"{sc[k].precision:.3f} / {sc[k].recall:.3f} / {sc[k].f1:.3f}" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + f" | {pps:.1f} |")
    counts = {
        k: sum(f"{p.site} {p.split}" == k or (k.startswith("all ") and p.split == k[4:]) for p in docs) for k in keys
    }
    print("\npages: " + ", ".join(f"{k} {n}" for k, n in counts.items()))

    print(
        "\n## Corpus 3: hand-checked English pages of the trafilatura evaluation set "
        "(bench/extraction_handchecked.json)\n"
    )
    hc = json.loads((ROOT / "bench" / "extraction_handchecked.json").read_text())["pages"]
    hc_html = [decode_html(record_at(p["offset"], p["url"])).text for p in hc]
    print("| extractor | precision | recall | F1 | boilerplate lines removed (95% CI) | body lines kept |")
    print("|---|---:|---:|---:|---:|---:|")
    from extraction_snippets import SnippetScore

    summary: dict[tuple[str, str], tuple] = {}
    for name, fn in candidates().items():
        if name not in (NEW, OLD, TRAF):
            continue
        sc = SnippetScore()
        for p, html in zip(hc, hc_html):
            sc.add(fn(html), p["must_have"], p["must_not"])
        summary[("corpus 3: 14 hand-checked pages (held out)", name)] = (sc, None)
        n = sc.fp + sc.tn
        lo, hi = wilson(sc.tn, n)
        print(
            f"| {name} | {sc.precision:.3f} | {sc.recall:.3f} | {sc.f1:.3f} | "
            f"{sc.tn}/{n} = {sc.tn / n:.2f} ({lo:.2f}-{hi:.2f}) | {sc.tp}/{sc.tp + sc.fn} |"
        )

    from urllib.parse import urlsplit

    news = json.loads((ROOT / "bench" / "extraction_news.json").read_text())["pages"]
    news_html = [decode_html(record_at(p["offset"], p["url"])).text for p in news]
    news_hosts = [urlsplit(p["url"]).hostname for p in news]
    print(
        f"\n## Corpus 4: news/blog pages (bench/extraction_news.json): "
        f"{sum(p['split'] == 'tune' for p in news)} tune, {sum(p['split'] == 'heldout' for p in news)} held out\n"
    )
    print(
        "| extractor | tune P / R / F1 | held-out P / R / F1 | all P / R / F1 "
        "| held-out boilerplate strings removed (95% CI) | pages/s (1 core) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    news_speed = {}
    for name, fn in candidates().items():
        if name not in (NEW, OLD, TRAF):
            continue
        texts, t = batch_extract(news_html, news_hosts, fn, cross_page=name == NEW)
        news_speed[name] = len(news) / t
        by_split = {k: SnippetScore() for k in ("tune", "heldout", "all")}
        for p, text in zip(news, texts):
            for k in (p["split"], "all"):
                by_split[k].add(text, p["must_have"], p["must_not"])
        for k, label in (("tune", "tune"), ("heldout", "held out")):
            summary[(f"corpus 4: news/blog pages, {label}", name)] = (by_split[k], news_speed[name])
        cells = [f"{v.precision:.3f} / {v.recall:.3f} / {v.f1:.3f}" for v in by_split.values()]
        held = by_split["heldout"]
        lo, hi = wilson(held.tn, held.tn + held.fp)
        removed = f"{held.tn}/{held.tn + held.fp} = {held.tn / (held.tn + held.fp):.2f} ({lo:.2f}-{hi:.2f})"
        print(f"| {name} | " + " | ".join(cells) + f" | {removed} | {news_speed[name]:.1f} |")

    three = {n: fn for n, fn in candidates().items() if n in (NEW, OLD, TRAF)}
    timed = {
        "corpus 1": paired_speed(
            [h for _, h, _ in pages], [urlsplit(u).hostname for u, _, _ in pages], three, [u for u, _, _ in pages]
        ),
        "corpus 2": paired_speed(htmls, [p.site for p in docs], three, [p.page_id for p in docs]),
        "corpus 3": paired_speed(hc_html, [urlsplit(p["url"]).hostname for p in hc], three, [p["url"] for p in hc]),
        "corpus 4": paired_speed(news_html, news_hosts, three, [p["url"] for p in news]),
    }
    paired = {corpus: {n: v["pages_per_s"] for n, v in sp.items()} for corpus, sp in timed.items()}
    n_pages = {"corpus 1": len(pages), "corpus 2": len(docs), "corpus 3": len(hc), "corpus 4": len(news)}
    print("\n## Speed, timed page by page in turn (default, resiliparse-old, trafilatura on each page)\n")
    print("| corpus | default pages/s | resiliparse-old pages/s | trafilatura pages/s | default / trafilatura |")
    print("|---|---:|---:|---:|---:|")
    for corpus, sp in paired.items():
        print(f"| {corpus} | {sp[NEW]:.1f} | {sp[OLD]:.1f} | {sp[TRAF]:.1f} | {sp[NEW] / sp[TRAF]:.1f}x |")
    print("\n## Time per page (CPU ms, same interleaved run): 99th percentile and slowest page\n")
    print("| corpus | pages | default p99 | default slowest | trafilatura p99 | trafilatura slowest |")
    print("|---|---:|---:|---:|---:|---:|")
    for corpus, sp in timed.items():
        d, t = sp[NEW], sp[TRAF]
        print(
            f"| {corpus} | {n_pages[corpus]} "
            f"| {d['p99_s'] * 1e3:.1f} | {d['max_s'] * 1e3:.1f} ({d['slowest']}) "
            f"| {t['p99_s'] * 1e3:.1f} | {t['max_s'] * 1e3:.1f} ({t['slowest']}) |"
        )

    print("\n## Summary: every corpus, precision / recall / F1 and pages/s in this run\n")
    print(
        "| corpus | "
        + " | ".join(n.split(" (")[0] for n in (NEW, OLD, TRAF))
        + " | default / trafilatura pages/s (interleaved) |"
    )
    print("|---|---:|---:|---:|---:|")
    by = {name: s for name, s, _ in rows}
    for label, key in (
        ("corpus 1: 181 gold article pages, token-level", None),
        ("corpus 1, half B (held out)", "B (held out)"),
    ):
        cells = []
        for name in (NEW, OLD, TRAF):
            s1 = by[name] if key is None else next(h for n, _, h in rows if n == name)[key]
            cells.append(
                f"{s1['micro_p']:.3f} / {s1['micro_r']:.3f} / {s1['micro_f1']:.3f} ({s1['pages_per_s']:.0f}/s)"
            )
        ratio = paired["corpus 1"][NEW] / paired["corpus 1"][TRAF]
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio:.1f}x |")
    for label, key in (
        ("corpus 2: documentation pages, test", "all test"),
        ("corpus 2: documentation pages, tune", "all tune"),
    ):
        cells = [
            f"{docs_scores[n][key].precision:.3f} / {docs_scores[n][key].recall:.3f} / {docs_scores[n][key].f1:.3f} "
            f"({speed[n]:.0f}/s)"
            for n in (NEW, OLD, TRAF)
        ]
        print(f"| {label} | " + " | ".join(cells) + f" | {paired['corpus 2'][NEW] / paired['corpus 2'][TRAF]:.1f}x |")
    for label in sorted({k[0] for k in summary}):
        cells = []
        for n in (NEW, OLD, TRAF):
            sc, pps = summary[(label, n)]
            cells.append(f"{sc.precision:.3f} / {sc.recall:.3f} / {sc.f1:.3f}" + (f" ({pps:.0f}/s)" if pps else ""))
        ratio = f"{paired['corpus 4'][NEW] / paired['corpus 4'][TRAF]:.1f}x" if "corpus 4" in label else "-"
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    print(
        f"\nspeed, default vs trafilatura: {by[NEW]['pages_per_s'] / by[TRAF]['pages_per_s']:.1f}x on corpus 1 "
        f"({by[NEW]['pages_per_s']:.0f} vs {by[TRAF]['pages_per_s']:.0f} pages/s), "
        f"{speed[NEW] / speed[TRAF]:.1f}x on corpus 2 ({speed[NEW]:.0f} vs {speed[TRAF]:.0f} pages/s), "
        f"{news_speed[NEW] / news_speed[TRAF]:.1f}x on corpus 4 ({news_speed[NEW]:.0f} vs {news_speed[TRAF]:.0f} pages/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
