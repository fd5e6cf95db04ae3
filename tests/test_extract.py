"""The default extractor: resiliparse's main content, navigation regions skipped, a line pass.

Pages are real records of ../shared/data/crawl/webpages-trafilatura-aeb.warc.gz; the
quality floor is checked on the 181 gold pages in ../shared/data/extraction.
"""

from __future__ import annotations

import sys

import pytest

from tasks.ingest.extract import EXTRACTORS, decode_html, extract, extract_text, remove_boilerplate_lines
from tests.test_ingest import real_page

TONIGHT_OFFSET = 24017119  # tonight.de: a breadcrumb trail resiliparse's main content keeps
LUXURYHAVEN_OFFSET = 27931149  # luxuryhaven.co: "You are here: Home » Travel » ..."


def _html(offset: int) -> str:
    _, page = real_page(offset)
    return decode_html(page).text


def test_breadcrumbs_are_skipped_and_the_article_kept():
    html = _html(TONIGHT_OFFSET)
    old, new = extract_text(html, "resiliparse-old"), extract_text(html, "resiliparse")
    assert "Tonight News > Unterhaltung > Promis >" in old
    assert "Tonight News > Unterhaltung > Promis >" not in new
    body = [line for line in old.splitlines() if len(line.split()) > 25]
    assert body and all(line in new for line in body)  # every paragraph of the article survives

    html = _html(LUXURYHAVEN_OFFSET)
    assert "You are here:" in extract_text(html, "resiliparse-old")
    assert "You are here:" not in extract_text(html, "resiliparse")


def test_line_pass_drops_furniture_and_late_related_sections():
    article = "\n".join(
        [
            "Der Stadtrat hat am Dienstag nach langer Debatte den neuen Haushalt beschlossen, der deutlich mehr Geld vorsieht.",
            "Tempo de leitura: 2 minutos",
            "2018-08-16",
            "Copyright ⓒ Entermedia.co.kr. 무단전재 및 재배포 금지",
            "Click here to subscribe to The Paradigm Newsletter",
            "Die Opposition kritisierte vor allem die Kürzungen bei den Schulen und kündigte Widerstand im Landtag an.",
            "Am 16.08.2018 hatte der Rat die erste Lesung des Haushalts nach einer sehr langen Sitzung vertagt, "
            "weil zahlreiche Änderungsanträge eingegangen waren.",
            "Most Popular",
            "Another headline that belongs to a different article entirely",
            "And one more teaser line",
        ]
    )
    out = remove_boilerplate_lines(article).splitlines()
    assert out == [
        "Der Stadtrat hat am Dienstag nach langer Debatte den neuen Haushalt beschlossen, der deutlich mehr Geld vorsieht.",
        "Die Opposition kritisierte vor allem die Kürzungen bei den Schulen und kündigte Widerstand im Landtag an.",
        "Am 16.08.2018 hatte der Rat die erste Lesung des Haushalts nach einer sehr langen Sitzung vertagt, "
        "weil zahlreiche Änderungsanträge eingegangen waren.",
    ]
    # A "related" heading early in the text is a section of the article, not its tail.
    early = "Related\n" + "\n".join(["A real paragraph of the article with enough words to matter here."] * 5)
    assert remove_boilerplate_lines(early).startswith("Related")


def test_unknown_extractor_is_a_clear_error():
    assert "resiliparse-old" in EXTRACTORS
    with pytest.raises(ValueError, match="unknown extractor 'boilerpipe'"):
        extract("<p>x</p>", "boilerpipe")


def test_quality_floor_on_the_gold_pages():
    """The figures docs/ingest.md reports for corpus 1 (bench/extraction_quality.py), as a floor."""
    sys.path.insert(0, "bench")
    from extraction_quality import load_pages, score

    pages = load_pages()
    assert len(pages) == 181
    new = score(pages, lambda html: extract_text(html, "resiliparse"))
    assert new["micro_p"] >= 0.92 and new["micro_r"] >= 0.975
