"""lid.176 (the default) vs py3langid on the shared crawl and on the Python documentation.

Corpora: every response record of ../shared/data/crawl/webpages-trafilatura-aeb.warc.gz
(decoded and extracted as ingestion does, default extractor), every document of
CC-MAIN-2019-30-sample.jsonl.gz, and the 530 pages of Debian's python3.11-doc (the demo's
docs source, fetched by tasks.core.external). For each: documents, top-language agreement,
Cohen's kappa, the most frequent disagreements, how many documents each identifier keeps
as English at datatrove's threshold (score > 0.65), and the Latin-tagged count.

    PYTHONPATH=. python bench/langid_agreement.py
"""

from __future__ import annotations

import gzip
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def crawl_texts() -> list[str]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from tasks.core.paths import shared_data
    from tasks.ingest.decode import Undecodable, decode_html
    from tasks.ingest.extract import extract_text

    texts = []
    with open(shared_data() / "crawl" / "webpages-trafilatura-aeb.warc.gz", "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            try:
                html = decode_html(rec.reader.read(), rec.http_charset).text
            except Undecodable:
                continue
            text = extract_text(html)
            if text.strip():
                texts.append(text)
    return texts


def cc_texts() -> list[str]:
    from tasks.core.paths import shared_data

    with gzip.open(shared_data() / "crawl" / "CC-MAIN-2019-30-sample.jsonl.gz", "rt") as f:
        return [t for t in (json.loads(line)["text"] for line in f) if t.strip()]


def python_doc_texts() -> list[str]:
    from tasks.core.external import debian_package
    from tasks.ingest.decode import decode_html
    from tasks.ingest.extract import extract_text

    root = debian_package("python3.11-doc") / "usr" / "share" / "doc" / "python3.11" / "html"
    texts = [extract_text(decode_html(p.read_bytes()).text) for p in sorted(root.rglob("*.html"))]
    return [t for t in texts if t.strip()]


def kappa(a: list[str], b: list[str]) -> float:
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    return (po - pe) / (1 - pe) if pe < 1 else 1.0


def report(name: str, texts: list[str]) -> None:
    from tasks.ingest.langid import identify

    lid = [identify(t, backend="lid176") for t in texts]
    py = [identify(t, backend="py3langid") for t in texts]
    a, b = [x[0] for x in lid], [x[0] for x in py]
    n = len(texts)
    agree = sum(x == y for x, y in zip(a, b))
    # Wilson 95% interval of the agreement rate.
    p, z = agree / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    print(f"\n## {name}: {n} documents")
    print(
        f"top-language agreement {agree}/{n} = {p:.3f} (95% CI {centre - half:.3f}-{centre + half:.3f}), kappa {kappa(a, b):.3f}"
    )
    en_lid = sum(lang == "en" and s > 0.65 for lang, s in lid)
    en_py = sum(lang == "en" and s > 0.65 for lang, s in py)
    print(f"kept as English at score > 0.65: lid.176 {en_lid}, py3langid {en_py}")
    print(f"tagged Latin (la): lid.176 {a.count('la')}, py3langid {b.count('la')}")
    print("languages, lid.176:", dict(Counter(a).most_common(8)))
    print("languages, py3langid:", dict(Counter(b).most_common(8)))
    print(
        "most frequent disagreements (lid.176 -> py3langid):",
        Counter((x, y) for x, y in zip(a, b) if x != y).most_common(8),
    )


def main() -> int:
    report("crawl WARC (trafilatura eval + article-extraction-benchmark pages)", crawl_texts())
    report("CC-MAIN-2019-30 sample", cc_texts())
    report("python3.11-doc", python_doc_texts())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
