"""HTML payload -> text: decode bytes (declared charset, else detection), then extract.

Decoding order: the HTTP `charset`, then the page's `<meta charset>`, then uchardet's
guess (resiliparse). The first that decodes strictly wins; a label that fails (a
mislabelled page) falls through to the next. If none decodes cleanly we decode the
guess with replacement characters and accept it only when they are rare; otherwise
the payload is `undecodable` (binary or mixed-up bytes) and goes to quarantine.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5

EXTRACTORS = ("resiliparse", "resiliparse-old", "resiliparse-plain", "trafilatura")
DEFAULT_EXTRACTOR = "resiliparse"

# Navigation regions resiliparse's main-content heuristic keeps (a DocBook page's Prev/Up/
# Next tables, breadcrumbs, pagers): skipped by CSS selector before extraction. Class tokens
# are matched whole (`~=`): a substring match also hits containers like "has-breadcrumb".
NAV_SELECTORS = (
    "nav",
    "[role=navigation]",
    "[role=banner]",
    "[role=contentinfo]",
    "[role=search]",
    "[role=menu]",
    "[role=menubar]",
    "[class~=navheader]",
    "[class~=navfooter]",
    "[class~=docnav]",
    "[class~=breadcrumb]",
    "[class~=breadcrumbs]",
    "[id~=breadcrumb]",
    "[id~=breadcrumbs]",
    "[class~=navbar]",
    "[id~=navbar]",
    "[class~=pagination]",
    "[class~=pager]",
    "[class~=skip-link]",
    # Overlays and dialogs (log-in prompts, "save this article" promos): never the article,
    # and resiliparse keeps them when they sit in the main column.
    "dialog",
    "[role=dialog]",
    "[aria-modal=true]",
    "[class~=overlay]",
)

# Above this share of U+FFFD / control characters a decoded page is not text.
MAX_BAD_CHAR_RATIO = 0.01
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\ufffd]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)


class Undecodable(ValueError):
    """No charset turns this payload into text."""


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the charset used; "+replace" when some bytes were replaced


def _canonical(label: str | None) -> str | None:
    if not label:
        return None
    enc = map_encoding_to_html5(label.strip().strip("\"'"), fallback_utf8=False)
    return enc


def meta_charset(payload: bytes) -> str | None:
    m = _META_CHARSET.search(payload[:4096])
    return _canonical(m.group(1).decode("ascii", "ignore")) if m else None


def decode_html(payload: bytes, http_charset: str | None = None) -> Decoded:
    """Bytes of a web page -> str, with the charset that was used."""
    if payload.startswith(b"\xef\xbb\xbf"):
        payload, http_charset = payload[3:], "utf-8"
    tried: list[str] = []
    guess = None
    for label in (http_charset, meta_charset(payload), "detect"):
        if label == "detect":
            label = guess = detect_encoding(payload, max_len=65536, html5_compatible=True, from_html_meta=False)
        enc = _canonical(label)
        if not enc or enc in tried:
            continue
        tried.append(enc)
        try:
            return Decoded(payload.decode(enc), enc)
        except (UnicodeDecodeError, LookupError):
            continue
    enc = _canonical(guess) or "utf-8"
    text = payload.decode(enc, errors="replace")
    bad = len(_CONTROL.findall(text))
    if not text or bad > MAX_BAD_CHAR_RATIO * len(text):
        raise Undecodable(
            f"no charset decodes it (tried {', '.join(tried) or 'none'}; "
            f"{bad} of {len(text)} characters invalid as {enc})"
        )
    return Decoded(text, enc + "+replace")


def extract_text(html: str, extractor: str = DEFAULT_EXTRACTOR) -> str:
    """Main text of an HTML page ('' when there is none)."""
    return extract(html, extractor)[0]


def extract(html: str, extractor: str = DEFAULT_EXTRACTOR) -> tuple[str, str]:
    """(main text, extractor that produced it).

    resiliparse's main-content heuristic sometimes discards a whole real article (17 of
    the 1,214 pages in the shared crawl WARC); only then is trafilatura asked, so the page
    is not lost and the slow extractor runs on ~1% of pages.
    """
    if extractor in ("resiliparse", "resiliparse-old"):
        from resiliparse.extract.html2text import extract_plain_text

        doc: Any = html  # the string, or its parsed tree when the box pass ran
        if extractor == "resiliparse" and any(c in html for c in _DOM_PASS_MARKERS):  # DOM pass only where needed
            from resiliparse.parse.html import HTMLTree

            doc = HTMLTree.parse(html)
            keep_in_text_boxes(doc)
            keep_wrappers_of_the_article(doc)
        text = extract_plain_text(
            doc,
            main_content=True,
            preserve_formatting=True,
            alt_texts=False,
            list_bullets=False,
            comments=False,
            post_meta=False,
            skip_elements=list(NAV_SELECTORS) if extractor == "resiliparse" else None,
        ).strip()
        if extractor == "resiliparse":
            text = remove_boilerplate_lines(text)
        if text:
            return text, extractor
        return _trafilatura(html), "trafilatura-fallback"
    if extractor == "resiliparse-plain":  # every visible text node, no boilerplate removal
        from resiliparse.extract.html2text import extract_plain_text

        return extract_plain_text(
            html, main_content=False, preserve_formatting=True, alt_texts=False
        ).strip(), extractor
    if extractor == "trafilatura":
        return _trafilatura(html), extractor
    raise ValueError(f"unknown extractor {extractor!r}; choose from {', '.join(EXTRACTORS)}")


# ---------------------------------------------------------------- in-text boxes

_BOX_CLASSES = ("sidebar",)
_DOM_PASS_MARKERS = _BOX_CLASSES
_BLOCK_TAGS = "div, p, ul, ol, dl, table, section, article, aside, pre"
BOX_MIN_CHARS = 80  # a box shorter than this is left to resiliparse's heuristic
BOX_MAX_LINK_SHARE = 0.3
BOX_MIN_PROSE_SIBLINGS = 2


def _is_prose_block(node) -> bool:
    """A paragraph: <p>, or a block with text and no block inside it."""
    if node.type != 1:  # element nodes only
        return False
    if node.tag == "p":
        return len(node.text.strip()) >= BOX_MIN_CHARS
    return node.tag == "div" and len(node.text.strip()) >= BOX_MIN_CHARS and node.query_selector(_BLOCK_TAGS) is None


def keep_in_text_boxes(tree) -> int:
    """Rename the class of note boxes that sit among an article's paragraphs.

    resiliparse's main-content heuristic drops every element whose class says "sidebar",
    but documentation and book generators (DocBook/Publican) use that class for notes and
    tips inside the running text. A box that is prose (few links) and whose parent holds at
    least two paragraphs beside it is part of the text, not a page column; those get their
    class renamed so the heuristic keeps them. Returns how many boxes were kept.
    """
    body = tree.body
    if body is None:
        return 0
    kept = 0
    for cls in _BOX_CLASSES:
        for box in body.query_selector_all(f"[class~={cls}]"):
            text = box.text.strip()
            parent = box.parent
            if len(text) < BOX_MIN_CHARS or parent is None:
                continue
            linked = sum(len(a.text) for a in box.query_selector_all("a"))
            if linked > BOX_MAX_LINK_SHARE * len(text):
                continue
            prose = sum(1 for sib in parent.child_nodes if sib != box and _is_prose_block(sib))
            if prose >= BOX_MIN_PROSE_SIBLINGS:
                box.setattr("class", " ".join(c if c != cls else "in-text-box" for c in box.class_list))
                kept += 1
    return kept


_MAIN_INSIDE = "main, article, [role=main]"


def keep_wrappers_of_the_article(tree) -> int:
    """Strip "sidebar" class tokens from containers that hold the page's article.

    Themes name their layout wrappers after the sidebar beside the content (Genesis:
    `content-sidebar-wrap` around `<main>`); resiliparse's main-content heuristic reads
    that as a sidebar and drops the article with it. An element that contains <main>,
    <article> or [role=main] is not a sidebar. Returns how many elements were changed.
    """
    body = tree.body
    if body is None:
        return 0
    changed = 0
    for el in body.query_selector_all("[class*=sidebar]"):
        if el.tag in ("main", "article") or el.query_selector(_MAIN_INSIDE) is not None:
            el.setattr("class", " ".join(c for c in el.class_list if "sidebar" not in c))
            changed += 1
    return changed


# ---------------------------------------------------------------- the line pass

# Lines that are page furniture in any article: copyright and rights notices, share/follow/
# subscribe prompts, reading-time and comment-policy notes. Only short lines are tested.
_FURNITURE = re.compile(
    r"(?:^|\b)(?:copyright\b|all rights reserved|alle rechte vorbehalten|todos los derechos|tous droits|"
    r"direitos reservados|tutti i diritti|click here|klicken sie hier|share this|share on|teilen auf|"
    r"follow us|folgen sie uns|subscribe|abonnieren|newsletter|sign up|log ?in\b|anmelden|"
    r"reading time|lesezeit|tempo de leitura|tiempo de lectura|temps de lecture|read more\b|weiterlesen|"
    r"leer más|lire la suite|leia mais|continua a leggere|advertisement|anzeige\b|werbung\b|publicidad|"
    r"sponsored|gesponsert|cookies?\b|bloggers like this|print this|drucken\b|"
    r"posted (?:on|in|by)\b|published (?:on|by)\b|veröffentlicht am|publicado (?:por|em|el)\b|publié le)",
    re.I,
)
_COPYRIGHT = re.compile(r"[©ⓒ]|\(c\)\s*\d{4}", re.I)
# A line that is only a date / time (with at most a few words around it).
_DATE = re.compile(
    r"\b(?:\d{1,2}[./-]\d{1,2}[./-]\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}\.? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|"
    r"januar|februar|märz|mai|juni|juli|august|september|oktober|november|dezember)\w*\.? \d{4}|"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*\.? \d{1,2},? \d{4})\b",
    re.I,
)
# Section headings after which an article page holds only other content: related links,
# comment threads, "most popular" lists. The text is cut there when they come late. The bare
# English "comments", "tags" and "see also" are not here: documentation uses them as sections.
_TAIL_HEADING = re.compile(
    r"^(?:related(?: \w+)?|related articles|related posts|related stories|more (?:news|stories|articles|from \w+)|"
    r"top stories|most (?:popular|read)|popular(?: posts| articles)?|recommended(?: for you)?|you may also like|"
    r"read also|\d+ comments?|leave a (?:reply|comment)|partner news|"
    r"kommentare?|weitere artikel|ähnliche artikel|mehr zum thema|das könnte sie auch interessieren|"
    r"meistgelesen|schlagworte|themen|artículos relacionados|noticias relacionadas|comentarios|etiquetas|"
    r"articles similaires|à lire aussi|commentaires|notícias relacionadas|comentários|leggi anche|"
    r"articoli correlati|commenti|関連記事|コメント|관련기사|주요뉴스|самые популярные\b.*|похожие\b.*|комментарии|"
    # added from the news tune pages (bench/extraction_news.json, split "tune")
    r"related topics|read next|most popular this week|about the author|reader interactions|sharing is caring!?|"
    r"share this(?: article)?|filed under|footer|what do you think\??|"
    r"\d+ kommentare?|schreibe einen kommentar|kommentar verfassen|kommentieren sie den artikel.*|was denkst du\??|"
    r"ähnliche themen|verwandte artikel.*|mehr vom autor|lesen sie mehr|meistgelesen\b.*|neueste (?:artikel|beiträge|kommentare)|"
    r"weitere [\w-]*artikel|teilen sie dies mit|artikel teilen|gefällt mir)\s*:?$",
    re.I,
)
# Post navigation ("Previous post: ...", "Nächster Artikel...") ends an article page's text:
# what follows it is comments and teasers. Cut there when it comes late, like a tail heading.
_POST_NAV = re.compile(
    r"^(?:«\s*)?(?:previous|next|vorheriger|nächster|vorherige|nächste)\s*(?:post|article|story|artikel|beitrag)\b",
    re.I,
)
# A dateline or byline on its own line: a date or clock time in a short line that is not a
# sentence ("am 4. Februar 2022 um 11:23", "Geschrieben von X am 25.08.2015 22:30 (1599 x gelesen)").
_TIME = re.compile(r"\b\d{1,2}:\d{2}\s*(?:uhr|[ap]\.?m\.?|gmt|utc)?\b", re.I)
_BYLINE = re.compile(
    r"^(?i:by|von|written by|geschrieben von|erstellt von|autor:|author:)\s+"
    r"[A-ZÄÖÜ][\w.'-]*(?:\s+(?:[A-ZÄÖÜ][\w.'-]*|de|van|von|der))*(?:\s*[,|]\s*[\w ]+)?$"
)
DATELINE_WORDS = 12
# Code, shell sessions and program output carry timestamps too: operators, paths and URLs
# ("/usr/sbin", "https://"), snake_case, a prompt, version numbers ("1.1.1k").
_CODE_OR_TABLE = re.compile(r"[=;{}<>`]|::|\s--|/[a-z]|\w_\w|^[$#%]\s|\b\d+\.\d+\.\d{1,2}[a-z]?\b")
SHORT_LINE_WORDS = 12  # furniture patterns are only tested on lines this short
TAIL_START = 0.4  # a tail heading counts only after this share of the text


def _is_dateline(line: str) -> bool:
    """A byline, or a short line with a date or clock time that does not read as a sentence."""
    if _BYLINE.match(line):
        return True
    if not (_DATE.search(line) or _TIME.search(line)) or _CODE_OR_TABLE.search(line) or line.count("|") >= 2:
        return False  # code, a table row or a listing with a timestamp is text
    return not re.search(r"[a-zäöüß]{2,}[.!?]\W*$", line)  # a sentence ends with a word and a full stop


def remove_boilerplate_lines(text: str) -> str:
    """Line-level boilerplate pass after resiliparse's main-content extraction.

    Drops short lines that are furniture (copyright, share, reading
    time, date lines), and everything after a late
    "related / comments / tags / most popular" heading. Thresholds were chosen on the tune
    halves of the benchmark corpora (bench/extraction_quality.py), never on the reported halves.
    """
    lines = text.splitlines()
    total = sum(len(line) for line in lines) or 1
    out: list[str] = []
    done = 0
    for line in lines:
        stripped = line.strip()
        done += len(line)
        if not stripped:
            if out and out[-1]:
                out.append("")
            continue
        words = len(stripped.split())
        if (_TAIL_HEADING.match(stripped) or (_POST_NAV.match(stripped) and words <= 25)) and done > TAIL_START * total:
            break
        if words <= SHORT_LINE_WORDS and (
            _FURNITURE.search(stripped) or _COPYRIGHT.search(stripped) or (_DATE.search(stripped) and words <= 6)
        ):
            continue
        if words <= DATELINE_WORDS and _is_dateline(stripped):
            continue
        out.append(line)
    return "\n".join(out).strip()


def _trafilatura(html: str) -> str:
    import trafilatura

    return (
        trafilatura.extract(html, include_comments=False, include_tables=True, favor_precision=False, deduplicate=False)
        or ""
    ).strip()


# ---------------------------------------------------------------- across a host's pages

REPEAT_MIN_PAGES = 5  # a line on this many pages of one host (in one batch) is boilerplate ...
REPEAT_MIN_SHARE = 0.5  # ... when they are also at least this share of the host's pages there
EDGE_PROSE_WORDS = 10  # the page's body runs from its first to its last line this long


@dataclass(frozen=True)
class HostPage:
    """One extracted page of a batch: its host (None when unknown) and main text."""

    host: str | None
    text: str


def _norm_line(line: str) -> str:
    return " ".join(line.split()).casefold()


def _edge_lines(lines: list[str]) -> list[int]:
    """Indices of the non-blank lines before the first, and after the last, line of >= EDGE_PROSE_WORDS words.

    Only these are candidates for the cross-page pass: a section heading ("Examples",
    "Notes") repeated on many pages of a documentation site sits between paragraphs and
    is text; a footer, a menu or a "share" row sits at the edges. A page without any
    long line is all edge.
    """
    filled = [i for i, x in enumerate(lines) if x.strip()]
    prose = [i for i in filled if len(lines[i].split()) >= EDGE_PROSE_WORDS]
    if not prose:
        return filled
    return [i for i in filled if i < prose[0] or i > prose[-1]]


def remove_repeated_lines(pages: list[HostPage], min_pages: int = REPEAT_MIN_PAGES) -> list[str]:
    """Texts with the lines a host repeats at the edges of most of its pages removed.

    A line that starts or ends the text of most pages of one site (a footer, a menu, a
    newsletter prompt, "Related posts") is that site's template, whatever its words: it
    must be at the edges of >= `min_pages` pages and of >= REPEAT_MIN_SHARE of the host's
    pages in the batch (a documentation site ends 17% of its pages with "See Also"). Counted
    per host within the batch (an ingest shard); a host with fewer than `min_pages` pages
    is left alone, as are pages without a host. Returns one text per page, in order.
    """
    if min_pages < 2:
        raise ValueError(f"min_pages must be >= 2 (a line on one page is not repeated), got {min_pages}")
    by_host: dict[str, list[int]] = {}
    for i, page in enumerate(pages):
        if page.host:
            by_host.setdefault(page.host, []).append(i)
    out = [page.text for page in pages]
    for idx in by_host.values():
        if len(idx) < min_pages:
            continue
        split = {i: pages[i].text.splitlines() for i in idx}
        edges = {i: _edge_lines(split[i]) for i in idx}
        counts: Counter[str] = Counter()
        for i in idx:
            counts.update({_norm_line(split[i][j]) for j in edges[i]})
        need = max(min_pages, REPEAT_MIN_SHARE * len(idx))  # a template is on most pages, a heading on some
        common = {line for line, n in counts.items() if n >= need}
        if not common:
            continue
        for i in idx:
            drop = {j for j in edges[i] if _norm_line(split[i][j]) in common}
            if drop:
                kept = [x for j, x in enumerate(split[i]) if j not in drop]
                out[i] = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return out
