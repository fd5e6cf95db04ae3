"""A second annotated extraction corpus: documentation web sites from Debian packages,
with must-have / must-not snippets derived from the generators' own markup.

Why these pages: each site is written by a documentation generator whose HTML marks the
main content unambiguously (Sphinx's `div.body`, DocBook's body between `navheader` and
`navfooter`, Publican's body between its `docnav` lists). Everything else on the page is
navigation, "previous / next topic" related links, a sidebar table of contents, search
boxes, copyright and "last updated" footers: the boilerplate a main-text extractor must drop.
The pages come from the registry at setup time (tasks.core.external.debian_package), never
from git, and the annotation is computed from the markup with lxml (not with the extractors
under test), so it is reproducible on any machine:

- pages whose main region is mostly link text (> 50%: indexes, tables of contents) are left
  out: there the "main content" is navigation, which a main-text extractor is meant to drop.
- must-have: up to 6 leaf content blocks per page (p, li, dd, dt, pre, td, headings, Publican
  `div.para`, holding no other block, at most half of it link text) inside the main region
  (Sphinx's "¶" permalinks left out), each cut to its first ~100 characters at a word
  boundary; a block whose text also occurs outside the main region is skipped.
- must-not: up to 8 text pieces per page outside the main region (link texts, table cells,
  footer lines) of >= 4 non-space characters that do NOT occur anywhere in the main text:
  their presence in an extraction can only come from boilerplate.

Matching is substring matching after deleting all whitespace (an extractor's spacing around
inline markup must not decide a match). Scoring follows trafilatura's evaluation: a present
must-have is a true positive, an absent one a false negative; a present must-not is a false
positive. precision = TP / (TP + FP), recall = TP / (TP + FN).

Split: pages are assigned to `tune` or `test` by a hash of their path; debian-handbook and
git-doc are `test` only, so two site templates are never tuned on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

_WS = re.compile(r"\s+")
_BLOCKS = {"p", "li", "dd", "dt", "pre", "td", "th", "h1", "h2", "h3", "h4", "blockquote"}
_SKIP = {"script", "style", "noscript", "head", "title", "template"}
MAX_WITH, MAX_WITHOUT = 6, 8
MAX_LINK_SHARE = 0.5


@dataclass(frozen=True)
class Site:
    package: str
    html_dir: str  # inside the unpacked package
    main_xpath: str  # the main region(s)
    drop_xpath: str = ""  # regions inside main that are boilerplate all the same
    languages: tuple[str, ...] = ()  # subfolders to use (multilingual sites)
    max_pages: int = 400
    test_only: bool = False


SITES = (
    # Sphinx's "¶" permalinks are anchors for navigation, not text.
    Site("python3.11-doc", "usr/share/doc/python3.11/html", "//div[@role='main']", ".//a[@class='headerlink']"),
    Site(
        "postgresql-doc-15",
        "usr/share/doc/postgresql-doc-15/html",
        "/html/body/*[not(contains(@class,'navheader')) and not(contains(@class,'navfooter'))]",
    ),
    Site(
        "debian-handbook",
        "usr/share/doc/debian-handbook/html",
        "/html/body/*[not(@id='banner') and not(@id='title') and not(contains(@class,'docnav'))]",
        languages=("en-US", "de-DE", "fr-FR", "es-ES", "ja-JP", "ru-RU"),
        max_pages=300,
        test_only=True,
    ),
    # asciidoc manual pages: title block, then #content; #footer holds "Last updated <date>".
    Site(
        "git-doc",
        "usr/share/doc/git-doc",
        "//div[@id='header'] | //div[@id='content']",
        max_pages=300,
        test_only=True,
    ),
)


@dataclass
class Page:
    page_id: str  # package/relative path
    site: str
    split: str  # "tune" | "test"
    payload: bytes
    with_: list[str] = field(default_factory=list)
    without: list[str] = field(default_factory=list)


def squash(text: str) -> str:
    """Whitespace deleted: the form both snippets and extractions are compared in."""
    return _WS.sub("", text or "")


def _norm(text: str) -> str:
    return _WS.sub(" ", text or "").strip()


def _cut(text: str, limit: int = 100) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind(" ")] if " " in cut[20:] else cut


def _is_block(el) -> bool:
    if not isinstance(el.tag, str):
        return False
    return (
        el.tag in _BLOCKS
        or el.tag in ("ul", "ol", "dl", "table")
        or (el.tag == "div" and "para" in (el.get("class") or "").split())
    )


def _text_inside(el, inside: set) -> str:
    """el's text in document order, leaving out dropped descendants (not their tails)."""
    out = [el.text or ""] if el in inside else []
    for child in el:
        if isinstance(child.tag, str) and child.tag not in _SKIP:
            out.append(_text_inside(child, inside))
        if child.tail and el in inside:
            out.append(child.tail)
    return "".join(out)


def annotate(payload: bytes, site: Site, rng: random.Random) -> tuple[list[str], list[str]]:
    """(must-have, must-not) snippets of one page from its markup."""
    import lxml.html

    root = lxml.html.fromstring(payload)
    mains = root.xpath(site.main_xpath)
    if not mains:
        return [], []
    inside: set = set()
    for m in mains:
        inside.update(m.iter())
    if site.drop_xpath:
        for m in mains:
            for d in m.xpath(site.drop_xpath):
                inside.difference_update(d.iter())
    body = root.find("body")
    if body is None:
        return [], []
    main_parts, outside = [], []
    for el in body.iter():
        if not isinstance(el.tag, str) or el.tag in _SKIP:
            continue
        if any(a.tag in _SKIP for a in el.iterancestors() if isinstance(a.tag, str)):
            continue
        if el.text and el.text.strip():
            (main_parts if el in inside else outside).append(el.text)
        parent = el.getparent()
        if el.tail and el.tail.strip() and parent is not None:
            (main_parts if parent in inside else outside).append(el.tail)
    main_sq = squash("".join(main_parts))
    linked = sum(len(squash(_text_inside(a, inside))) for m in mains for a in m.iter("a"))
    if linked > MAX_LINK_SHARE * len(main_sq):  # an index / contents page: its "main text" is navigation
        return [], []
    outside_sq = squash(" ".join(outside))

    blocks = []
    for el in body.iter():
        if el not in inside or not isinstance(el.tag, str):
            continue
        # Leaf blocks only: a list item holding a nested list has no one right line layout.
        if _is_block(el) and not any(_is_block(d) for d in el.iterdescendants()):
            text = _norm(_text_inside(el, inside))
            linked = sum(len(squash(_text_inside(a, inside))) for a in el.iter("a"))
            if len(squash(text)) >= 25 and linked <= 0.5 * len(squash(text)):
                snip = _cut(text)
                if squash(snip) not in outside_sq:
                    blocks.append(snip)
    blocks = sorted(set(blocks))
    with_ = rng.sample(blocks, min(MAX_WITH, len(blocks)))

    pieces = sorted({_norm(p) for p in outside if len(squash(p)) >= 4 and squash(p) not in main_sq})
    without = rng.sample(pieces, min(MAX_WITHOUT, len(pieces)))
    return with_, without


def build(root_of) -> list[Page]:
    """All pages of every site; `root_of(package)` unpacks a package (debian_package)."""
    pages = []
    for site in SITES:
        base = Path(root_of(site.package)) / site.html_dir
        if not base.is_dir():
            raise FileNotFoundError(f"{site.package}: no HTML folder {base}")
        folders = [base / lang for lang in site.languages] if site.languages else [base]
        files = sorted(f for d in folders for f in d.rglob("*.html"))
        # A fixed, hash-ordered sample: the same pages on every machine.
        files = sorted(files, key=lambda f: xxhash.xxh64_intdigest(str(f.relative_to(base))))[: site.max_pages]
        for f in files:
            rel = str(f.relative_to(base))
            rng = random.Random(xxhash.xxh64_intdigest(rel))
            payload = f.read_bytes()
            with_, without = annotate(payload, site, rng)
            if not with_:  # an index or redirect page without main text
                continue
            split = "test" if site.test_only or xxhash.xxh64_intdigest(rel, seed=1) % 2 else "tune"
            pages.append(Page(f"{site.package}/{rel}", site.package, split, payload, with_, without))
    return pages


@dataclass
class SnippetScore:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0

    def add(self, text: str, with_: list[str], without: list[str]) -> None:
        sq = squash(text)
        for s in with_:
            if squash(s) in sq:
                self.tp += 1
            else:
                self.fn += 1
        for s in without:
            if squash(s) in sq:
                self.fp += 1
            else:
                self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0
