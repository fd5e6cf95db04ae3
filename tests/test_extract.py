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


# A section of the Debian Administrator's Handbook (debian-handbook, en-US,
# sect.config-misc.html), trimmed: a Publican "sidebar" note inside the running text.
HANDBOOK = """<html><head><title>8.9. Other Configurations</title></head><body>
<div class="section"><div class="titlepage"><div><div><h3 class="title">8.9.1. Timezone</h3></div></div></div>
<div class="sidebar"><div class="titlepage"><div><div><p class="title"><strong><span class="emphasis"><em>BACK TO
BASICS</em></span> Symbolic links</strong></p></div></div></div><div class="para">
A symbolic link is a pointer to another file. When you access it, the file to which it points is opened. Removal of
the link will not cause deletion of the file to which it points.</div></div>
<div class="para">The timezone, configured during initial installation, is a configuration item for the
<span class="pkg pkg">tzdata</span> package. To modify it, use the <code class="command">dpkg-reconfigure tzdata</code>
command, which allows you to choose the timezone to be used in an interactive manner.</div>
<div class="para">Its configuration is stored in the <code class="filename">/etc/timezone</code> file. Additionally,
<code class="filename">/etc/localtime</code> becomes a symbolic link to the corresponding file in the
<code class="filename">/usr/share/zoneinfo</code>.</div>
</div></body></html>"""


def test_note_box_inside_the_text_is_kept_a_page_column_is_not():
    box = "A symbolic link is a pointer to another file."
    assert box not in extract_text(HANDBOOK, "resiliparse-old")  # resiliparse drops class="sidebar"
    new = extract_text(HANDBOOK, "resiliparse")
    assert box in new and "The timezone, configured during initial installation" in new

    # The same box as a page column beside the article (no paragraphs next to it) stays out.
    column = HANDBOOK.replace('<div class="section">', '<div class="section"><div class="article">').replace(
        '<div class="para">The timezone', '</div><div class="article"><div class="para">The timezone'
    )
    column = column.replace("</div></body>", "</div></div></body>")
    assert box not in extract_text(column, "resiliparse")
