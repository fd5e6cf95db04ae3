"""Across a host's pages: the lines a site repeats at the edges of most of its pages in one
ingest shard (footers, menus, "Related posts") removed from each page's text."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

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
