"""The default extractor: resiliparse's main content, navigation regions skipped, a line pass.

Pages are real records of ../shared/data/crawl/webpages-trafilatura-aeb.warc.gz; the
published quality and speed figures are floors in tests/test_extract_floors.py.
"""

from __future__ import annotations

import pytest

from tasks.ingest.decode import decode_html
from tasks.ingest.extract import EXTRACTORS, extract, extract_text, remove_boilerplate_lines
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


# ---------------------------------------------------------------- news-page rules (issue 15)

BODY = (
    "<p>The city council approved the new budget on Tuesday after a long debate that lasted well into the night.</p>"
    "<p>The opposition criticised the cuts to schools and announced that it would fight them in the state parliament.</p>"
    "<p>The mayor said the plan would balance the books within three years without raising local taxes at all.</p>"
)


def _page(inside_main: str = "", after_article: str = "", wrapper_class: str = "content") -> str:
    return (
        f'<html><body><div class="{wrapper_class}"><main><article><h1>Budget passed</h1>{BODY}{inside_main}'
        f"</article>{after_article}</main></div></body></html>"
    )


def test_overlays_and_dialogs_are_skipped():
    promo = "Hier speichern Sie interessante Artikel, um sie später zu lesen und auf allen Geräten."
    for block in (
        f'<div class="overlay"><div class="overlay__main"><p>{promo}</p></div></div>',
        f'<div role="dialog"><p>{promo}</p></div>',
        f'<div aria-modal="true"><p>{promo}</p></div>',
        f"<dialog open><p>{promo}</p></dialog>",
    ):
        html = _page(after_article=block)
        assert promo in extract_text(html, "resiliparse-old"), block  # resiliparse alone keeps it
        new = extract_text(html, "resiliparse")
        assert promo not in new and "The mayor said the plan" in new, block


FLAWLESSFOOD_OFFSET = 10869853  # a Genesis-theme recipe post (news corpus, tune split)


def test_article_wrapper_named_after_the_sidebar_is_kept():
    # Genesis themes wrap <main> in "content-sidebar-wrap"; resiliparse dropped the whole post.
    html = _html(FLAWLESSFOOD_OFFSET)
    body = "We decided to cook our focaccia in a 24cm (9 in) spring-form cake tin."
    assert body not in extract_text(html, "resiliparse-old")
    assert body in extract_text(html, "resiliparse")


def test_keep_wrappers_of_the_article_changes_only_wrappers():
    from resiliparse.parse.html import HTMLTree

    from tasks.ingest.extract import keep_wrappers_of_the_article

    tree = HTMLTree.parse(
        '<body><div class="content-sidebar-wrap x"><main>a</main></div><div class="sidebar-left">b</div></body>'
    )
    assert keep_wrappers_of_the_article(tree) == 1
    assert tree.body.query_selector("div.x").class_list == ["x"]
    assert tree.body.query_selector("div.sidebar-left") is not None


def test_datelines_and_bylines_are_dropped_sentences_code_and_tables_are_not():
    lines = [
        "am 4. Februar 2022 um 11:23",  # dateline
        "Geschrieben von Cooper am 25.08.2015 22:30 (1599 x gelesen)",  # byline with date, 9 words
        "PUBLISHED: November 8, 2023 at 4:56 p.m.",
        "By Ian Mohr",  # byline without a date
        "Von Ulrich Nitsche",
    ]
    kept = [
        "The council met on 4 February 2022 and voted.",  # a short sentence with a date
        "By default, the option is off.",  # "By" that is not a byline
        ">>> timestamp = ssl.cert_time_to_seconds('Jan 5 09:34:43 2018 GMT')",  # code
        "city | temp_lo | temp_hi | date",  # a table row
        "Starting Nmap 7.80 ( https://nmap.org ) at 2021-04-29 14:41 CEST",  # program output
        "system_u:system_r:ftpd_t:s0 2094 ? Ss 0:00 /usr/sbin/vsftpd",
        "Using SSL: openssl OpenSSL 1.1.1k 25 Mar 2021",
        "Seminar am 22.08.2015 in Oberhausen: Anmeldung bis Freitag bei Mark.",  # a sentence
    ]
    out = remove_boilerplate_lines("\n".join(lines + kept)).splitlines()
    assert out == kept


def test_post_navigation_late_in_the_text_cuts_the_tail():
    body = ["A real paragraph of the article with enough words to count as running text here."] * 4
    for nav in (
        "Vorheriger Artikel++ Wetter in der Region: mild",
        "Previous Post: « Mixed Seafood Risotto",
        "Next article",
    ):
        text = "\n".join([*body, nav, "Bitte geben Sie Ihren Kommentar ein!", "Another teaser headline"])
        assert remove_boilerplate_lines(text).splitlines() == body
    # At the top of the text it is navigation of another kind, not the end of the article.
    early = "\n".join(["Next article", *body])
    assert remove_boilerplate_lines(early).splitlines()[0] == "Next article"


def test_new_tail_headings_cut_late_only():
    body = ["A real paragraph of the article with enough words to count as running text here."] * 4
    for heading in ("Sharing is caring!", "Reader Interactions", "Filed under", "0 Kommentare", "Ähnliche Themen"):
        text = "\n".join([*body, heading, "Some teaser of another article"])
        assert remove_boilerplate_lines(text).splitlines() == body, heading


def test_repeated_edge_lines_of_a_host_are_removed():
    from tasks.ingest.host_lines import HostPage, remove_repeated_lines

    def page(i: int, host: str | None = "news.example") -> HostPage:
        return HostPage(
            host,
            "\n".join(
                [
                    "Home | News | Sport",  # menu: at the top of every page
                    f"Story number {i} is about a topic that needs at least ten words to be prose here.",
                    "Examples",  # a heading between paragraphs: repeated but not at an edge
                    f"More text of story {i} that is also long enough to be a line of running prose.",
                    "© 2024 Example News. All rights reserved.",  # footer
                ]
            ),
        )

    pages = [page(i) for i in range(6)]
    out = remove_repeated_lines(pages, min_pages=5)
    for i, text in enumerate(out):
        assert text.splitlines() == [
            f"Story number {i} is about a topic that needs at least ten words to be prose here.",
            "Examples",
            f"More text of story {i} that is also long enough to be a line of running prose.",
        ]
    # Fewer pages of the host than min_pages, pages without a host, or another host: untouched.
    few = [page(i) for i in range(4)]
    assert remove_repeated_lines(few, min_pages=5) == [p.text for p in few]
    mixed = [page(i, host=f"site{i}.example") for i in range(6)] + [page(9, host=None)]
    assert remove_repeated_lines(mixed, min_pages=5) == [p.text for p in mixed]


def test_repeated_lines_must_be_on_most_of_the_hosts_pages():
    from tasks.ingest.host_lines import HostPage, remove_repeated_lines

    prose = "A paragraph of documentation with enough words in it to count as running prose."
    # "See Also" ends 5 of 20 pages: a section heading of the site, not its template.
    pages = [HostPage("docs.example", f"{prose} {i}\nSee Also" if i < 5 else f"{prose} {i}") for i in range(20)]
    assert remove_repeated_lines(pages, min_pages=5) == [p.text for p in pages]
    with pytest.raises(ValueError, match="min_pages must be >= 2"):
        remove_repeated_lines(pages, min_pages=1)
