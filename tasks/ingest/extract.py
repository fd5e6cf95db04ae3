"""HTML -> main text, in bounded time per page: resiliparse's main content (or the plain
or trafilatura extractor) after the DOM passes that keep in-text boxes and the article's
wrappers, then the line pass that drops page furniture. Decoding bytes is
tasks/ingest/decode.py; the lines a host repeats across pages, tasks/ingest/host_lines.py.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from resiliparse.parse.html import NodeType

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


def extract_text(html: str, extractor: str = DEFAULT_EXTRACTOR) -> str:
    """Main text of an HTML page ('' when there is none)."""
    return extract_page(html, extractor).text


def extract(html: str, extractor: str = DEFAULT_EXTRACTOR) -> tuple[str, str]:
    """(main text, extractor that produced it); `extract_page` also says why a fallback ran."""
    got = extract_page(html, extractor)
    return got.text, got.extractor


# ---------------------------------------------------------------- bounded time per page
#
# No page may stall a worker. The Python passes below are linear in the page; what is not
# is resiliparse's main-content heuristic (C, about O(nodes x depth): 10^4 nested <div>s,
# 110 KB, take 2 s, 2 x 10^4 take 14 s) and trafilatura (up to 3.5 CPU-s per MB, Python/lxml).
# Neither can be interrupted from Python (a signal waits for the C call to return), so they
# are not started on pages that would make them slow: those get the plain extractor
# (resiliparse without main content, linear: 10 MB in 0.1 s), and so does a page whose
# passes used up the time budget. Each fallback is counted in the ingest accounting
# (`fallback_by_reason` of a shard) under these reasons:
FALLBACK_REASONS = {
    "extract_fallback_size": "page too large for the main-content extractor; plain text used",
    "extract_fallback_depth": "elements nested too deep for the main-content extractor; plain text used",
    "extract_fallback_time": "the page's extraction passes used up the time budget; plain text used",
    "extract_fallback_empty": "main content empty; trafilatura asked",
}
# Above this many characters a page skips main-content extraction: its worst case (nesting
# just under MAX_DEPTH) is ~0.5 CPU-s per MB, so at most ~2.5 s here.
MAIN_CONTENT_MAX_CHARS = 5_000_000
# Elements at this depth or deeper (counted from <html>) skip it: its cost per node grows
# with the depth. No page of the project's corpora (9,679) reaches depth 64 (docs/ingest.md).
MAX_DEPTH = 256
_TOO_DEEP = " > ".join(["*"] * MAX_DEPTH)  # a child chain: matched without backtracking
# trafilatura, the fallback for an empty main content, is not asked above this size (the
# largest real page that needed it here: 0.51 MB). Chosen as the extractor, it is capped at
# MAIN_CONTENT_MAX_CHARS instead (up to ~17 s at its worst 3.5 s per MB): the user chose the
# slow extractor, and every real page here (4.1 M characters at most) keeps its output.
TRAFILATURA_MAX_CHARS = 1_000_000
# CPU seconds (of this thread) a page's passes may take before the rest are skipped: the
# Python passes check it as they go, a C call when it returns. The slowest of the 9,679 real
# pages of the project's corpora takes 0.8 s (a 4.1 MB page), so a page over budget is
# pathological, not long; after the caps above no pass runs much past it (docs/ingest.md).
DEFAULT_EXTRACT_BUDGET_S = 5.0


def extract_budget_s() -> float:
    """The per-page budget: WINNOW_EXTRACT_BUDGET_S (CPU seconds), else DEFAULT_EXTRACT_BUDGET_S."""
    value = os.environ.get("WINNOW_EXTRACT_BUDGET_S")
    return float(value) if value else DEFAULT_EXTRACT_BUDGET_S


@dataclass(frozen=True)
class Extracted:
    text: str
    extractor: str  # what produced the text (the requested extractor, or a "-fallback")
    fallback: str | None = None  # a FALLBACK_REASONS key when the requested one did not


def _plain(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=False, preserve_formatting=True, alt_texts=False).strip()


def _plain_fallback(html: str, reason: str) -> Extracted:
    return Extracted(_plain(html), "resiliparse-plain-fallback", reason)


def extract_page(html: str, extractor: str = DEFAULT_EXTRACTOR, budget_s: float | None = None) -> Extracted:
    """The main text of a page, the extractor that produced it, and the fallback reason if any.

    resiliparse's main-content heuristic sometimes discards a whole real article (17 of
    the 1,214 pages in the shared crawl WARC); only then is trafilatura asked, so the page
    is not lost and the slow extractor runs on ~1% of pages. Pages that would take
    too long get the plain extractor (FALLBACK_REASONS); `budget_s` defaults to
    extract_budget_s().
    """
    if extractor == "resiliparse-plain":  # every visible text node, no boilerplate removal
        return Extracted(_plain(html), extractor)
    if extractor == "trafilatura":
        if len(html) > MAIN_CONTENT_MAX_CHARS:
            return _plain_fallback(html, "extract_fallback_size")
        return Extracted(_trafilatura(html), extractor)
    if extractor not in ("resiliparse", "resiliparse-old"):
        raise ValueError(f"unknown extractor {extractor!r}; choose from {', '.join(EXTRACTORS)}")

    from resiliparse.parse.html import HTMLTree

    if len(html) > MAIN_CONTENT_MAX_CHARS:
        return _plain_fallback(html, "extract_fallback_size")
    # CPU time of this thread: the load of other processes must not change the output
    deadline = time.thread_time() + (extract_budget_s() if budget_s is None else budget_s)
    tree = HTMLTree.parse(html)
    if tree.document is not None and tree.document.query_selector(_TOO_DEEP) is not None:
        return _plain_fallback(html, "extract_fallback_depth")
    try:
        text = _main_content(tree, extractor, html, deadline)
    except OverBudget:
        return _plain_fallback(html, "extract_fallback_time")
    if text:
        return Extracted(text, extractor)
    if len(html) > TRAFILATURA_MAX_CHARS:
        return _plain_fallback(html, "extract_fallback_size")
    if time.thread_time() > deadline:
        return _plain_fallback(html, "extract_fallback_time")
    return Extracted(_trafilatura(html), "trafilatura-fallback", "extract_fallback_empty")


class OverBudget(Exception):
    """A page's passes ran past their deadline (tasks.ingest.extract.extract_budget_s)."""


def _check(deadline: float | None, step: int = 0) -> None:
    """Raise OverBudget past `deadline` (a time.thread_time() value; None: no limit). In a
    loop, pass the step: the clock is read every 256th (it is a system call, ~0.6 us)."""
    if deadline is not None and not step & 255 and time.thread_time() > deadline:
        raise OverBudget


def _main_content(tree, extractor: str, html: str, deadline: float) -> str:
    """resiliparse's main content of a parsed page, with the default's passes around it.
    The Python passes check the deadline as they go; the C call is checked after it returns."""
    from resiliparse.extract.html2text import extract_plain_text

    if extractor == "resiliparse" and any(c in html for c in _DOM_PASS_MARKERS):  # DOM pass only where needed
        keep_in_text_boxes(tree, deadline)
        keep_wrappers_of_the_article(tree, deadline)
    text = extract_plain_text(
        tree,
        main_content=True,
        preserve_formatting=True,
        alt_texts=False,
        list_bullets=False,
        comments=False,
        post_meta=False,
        skip_elements=list(NAV_SELECTORS) if extractor == "resiliparse" else None,
    ).strip()
    _check(deadline)
    return remove_boilerplate_lines(text, deadline) if extractor == "resiliparse" else text


# ---------------------------------------------------------------- in-text boxes

_BOX_CLASSES = ("sidebar",)
_DOM_PASS_MARKERS = _BOX_CLASSES
_BLOCK_TAGS = "div, p, ul, ol, dl, table, section, article, aside, pre"
BOX_MIN_CHARS = 80  # a box shorter than this is left to resiliparse's heuristic
BOX_MAX_LINK_SHARE = 0.3
BOX_MIN_PROSE_SIBLINGS = 2


class _TextStats:
    """Text lengths of the nodes the box pass asks about, each subtree read once.

    `node.text` is the concatenation of the text nodes below it, and costs the size of the
    subtree. Asked of every box and of every sibling of a box, it made the pass quadratic
    (cubic with NodeList iteration, which is quadratic itself in resiliparse 2): a box
    nested in a box re-reads the inner one. Here a node with a box strictly inside it (an
    "ancestor") is summed from its children; every other node asked about is read once by
    lexbor. Those are children of ancestors, so their subtrees are disjoint: linear overall.
    """

    def __init__(self, boxes: list, deadline: float | None = None):
        self.deadline = deadline
        self.ancestors: set = set()
        for box in boxes:
            node = box.parent
            while node is not None and node not in self.ancestors:
                self.ancestors.add(node)
                node = node.parent
        self._len: dict = {}  # node -> (len(text), leading whitespace, trailing whitespace)
        self._linked: dict = {}  # node -> sum(len(a.text) for the <a> elements below it)

    def _read(self, node) -> tuple[int, int, int]:
        got = self._len.get(node)
        if got is None:
            if node in self.ancestors:
                self._sum_up(node)
                return self._len[node]
            text = node.text or ""
            got = self._len[node] = (len(text), len(text) - len(text.lstrip()), len(text) - len(text.rstrip()))
        return got

    def _parts(self, node) -> list[tuple[int, int, int]]:
        parts = []
        for c in node.child_nodes.values():
            if c.type == NodeType.ELEMENT:
                parts.append(self._len[c] if c in self.ancestors else self._read(c))
            elif c.type == NodeType.TEXT:  # comments and the like are not in .text
                parts.append(self._read(c))
        return parts

    def _sum_up(self, top) -> None:
        """Fill the cache for `top` and the ancestors below it, children first (no recursion:
        nesting can be 10^4 deep)."""
        stack = [(top, False)]
        step = 0
        while stack:
            step += 1
            _check(self.deadline, step)
            node, ready = stack.pop()
            if node in self._len:
                continue
            if not ready:
                stack.append((node, True))
                stack.extend((c, False) for c in node.child_nodes.values() if c in self.ancestors)
                continue
            parts = self._parts(node)
            total = sum(n for n, _, _ in parts)
            lead = trail = 0
            for n, ld, _ in parts:
                lead += ld
                if ld < n:
                    break
            for n, _, tr in reversed(parts):
                trail += tr
                if tr < n:
                    break
            self._len[node] = (total, min(lead, total), min(trail, total))
            # the <a> text below: that of the <a> children plus what is below each child
            linked = 0
            for c in node.child_nodes.values():
                if c.type == NodeType.ELEMENT:
                    linked += (self._read(c)[0] if c.tag == "a" else 0) + self.linked(c)
            self._linked[node] = linked

    def stripped_len(self, node) -> int:
        """len(node.text.strip())"""
        n, lead, trail = self._read(node)
        return 0 if lead >= n else n - lead - trail

    def linked(self, node) -> int:
        """sum(len(a.text) for a in node.query_selector_all("a"))"""
        got = self._linked.get(node)
        if got is None:
            if node in self.ancestors:
                self._sum_up(node)
                return self._linked[node]
            got = self._linked[node] = sum(len(a.text or "") for a in node.query_selector_all("a").values())
        return got


def _is_prose_block(node, stats: _TextStats) -> bool:
    """A paragraph: <p>, or a block with text and no block inside it."""
    if node.type != 1:  # element nodes only
        return False
    if node.tag == "p":
        return stats.stripped_len(node) >= BOX_MIN_CHARS
    # the block test first: it stops at the first block, and a div with a block inside is never read
    return node.tag == "div" and node.query_selector(_BLOCK_TAGS) is None and stats.stripped_len(node) >= BOX_MIN_CHARS


def keep_in_text_boxes(tree, deadline: float | None = None) -> int:
    """Rename the class of note boxes that sit among an article's paragraphs.

    resiliparse's main-content heuristic drops every element whose class says "sidebar",
    but documentation and book generators (DocBook/Publican) use that class for notes and
    tips inside the running text. A box that is prose (few links) and whose parent holds at
    least two paragraphs beside it is part of the text, not a page column; those get their
    class renamed so the heuristic keeps them. Returns how many boxes were kept.

    Linear in the page: text lengths come from _TextStats, and each parent's paragraphs are
    counted once however many boxes it holds (`.values()`: iterating a NodeList is quadratic).
    """
    body = tree.body
    if body is None:
        return 0
    kept = 0
    for cls in _BOX_CLASSES:
        boxes = body.query_selector_all(f"[class~={cls}]").values()
        stats = _TextStats(boxes, deadline)
        prose_of: dict = {}  # parent -> its children that are paragraphs
        for step, box in enumerate(boxes):
            _check(deadline, step)
            parent = box.parent
            if parent is None:
                continue
            n = stats.stripped_len(box)
            if n < BOX_MIN_CHARS:
                continue
            if stats.linked(box) > BOX_MAX_LINK_SHARE * n:
                continue
            prose = prose_of.get(parent)
            if prose is None:
                prose = prose_of[parent] = {c for c in parent.child_nodes.values() if _is_prose_block(c, stats)}
            if len(prose) - (box in prose) >= BOX_MIN_PROSE_SIBLINGS:
                box.setattr("class", " ".join(c if c != cls else "in-text-box" for c in box.class_list))
                kept += 1
    return kept


_MAIN_INSIDE = "main, article, [role=main]"


def keep_wrappers_of_the_article(tree, deadline: float | None = None) -> int:
    """Strip "sidebar" class tokens from containers that hold the page's article.

    Themes name their layout wrappers after the sidebar beside the content (Genesis:
    `content-sidebar-wrap` around `<main>`); resiliparse's main-content heuristic reads
    that as a sidebar and drops the article with it. An element that contains <main>,
    <article> or [role=main] is not a sidebar. Returns how many elements were changed.
    """
    body = tree.body
    if body is None:
        return 0
    candidates = body.query_selector_all("[class*=sidebar]").values()
    if not candidates:  # "sidebar" only in a script or a style
        return 0
    # Elements with an article inside: the ancestors of each match, each walked once (asking
    # every sidebar element for a match below it is quadratic when they nest).
    wrappers: set = set()
    for main in body.query_selector_all(_MAIN_INSIDE).values():
        node = main.parent
        while node is not None and node not in wrappers:
            wrappers.add(node)
            node = node.parent
    changed = 0
    for step, el in enumerate(candidates):
        _check(deadline, step)
        if el.tag in ("main", "article") or el in wrappers:
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


def remove_boilerplate_lines(text: str, deadline: float | None = None) -> str:
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
    for step, line in enumerate(lines):
        _check(deadline, step)
        stripped = line.strip()
        done += len(line)
        if not stripped:
            if out and out[-1]:
                out.append("")
            continue
        words = len(stripped.split())
        late = done > TAIL_START * total  # tested first: the heading patterns cost more
        if late and (_TAIL_HEADING.match(stripped) or (_POST_NAV.match(stripped) and words <= 25)):
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
