"""No page can stall a worker (issue 23): pathological pages, generated here, each within a
bound on CPU time per MB, and the fallbacks that make it so.

The bound is CPU seconds of this process (time.process_time, so another process's load
does not count): CPU_S_PER_MB per MB of HTML plus CPU_S_FLOOR for a small page. The
extractor needs at most ~0.3 s per MB on these pages; the code before issue 23 needed 91 s
for the 0.14 MB sidebar page alone and ran past any limit on the 10^4-box pages. A page
that overruns is stopped by a CPU timer (SIGPROF) at its limit, so a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import random
import re
import signal
import time
from contextlib import contextmanager

import pytest
from resiliparse.parse.html import HTMLTree

from tasks.ingest import extract as ex
from tasks.ingest.decode import Undecodable, decode_html
from tasks.ingest.extract import (
    FALLBACK_REASONS,
    MAIN_CONTENT_MAX_CHARS,
    MAX_DEPTH,
    _TextStats,
    extract_page,
    keep_in_text_boxes,
    keep_wrappers_of_the_article,
    remove_boilerplate_lines,
)
from tasks.ingest.host_lines import HostPage, remove_repeated_lines

CPU_S_PER_MB = 5.0
CPU_S_FLOOR = 1.0

WORDS = (
    "the council met on tuesday and after a long debate passed the new budget which gives schools more money".split()
)


def sentence(i: int, n: int = 60) -> str:
    return " ".join(WORDS[(i + k) % len(WORDS)] for k in range(n)) + "."


# ---------------------------------------------------------------- the pages


def sidebar_siblings(n: int, words: int = 60) -> str:
    """The issue's page: n paragraphs, every second one in a sidebar box with a link."""
    parts = []
    for i in range(n):
        p = f"<p>{sentence(i, words)}</p>"
        parts.append(f'<div class="sidebar">{p}<a href="/x{i}">more</a></div>' if i % 2 else p)
    return "<html><body>" + "".join(parts) + "</body></html>"


def nested_sidebars(depth: int) -> str:
    """Sidebar boxes inside sidebar boxes, each with a paragraph and a link."""
    opening = "".join(f'<div class="sidebar"><p>{sentence(i, 20)}</p><a href="/{i}">x</a>' for i in range(depth))
    return "<html><body>" + opening + "</div>" * depth + "</body></html>"


def nested_divs(depth: int) -> str:
    return "<html><body>" + "<div>" * depth + sentence(0) + "</div>" * depth + "</body></html>"


def deep_chains(mb: float, depth: int) -> str:
    """Many chains of `depth` nested divs: resiliparse's main content costs ~nodes x depth."""
    chain = "<div>" * depth + sentence(0, 10) + "</div>" * depth
    return "<html><body>" + chain * int(mb * 1e6 / len(chain)) + "</body></html>"


def big_page(mb: float) -> str:
    """An ordinary article page, repeated to `mb` MB: paragraphs, a note box, a nav bar."""
    block = (
        "<article><h2>Headline</h2>"
        + "".join(f"<p>{sentence(i)}</p>" for i in range(8))
        + f'<div class="sidebar"><p>{sentence(3)}</p><a href="/r">related</a></div>'
        + '<nav><a href="/">Home</a></nav></article>'
    )
    return "<html><body>" + block * int(mb * 1e6 / len(block)) + "</body></html>"


def repeated_lines(n: int) -> str:
    return "<html><body><pre>" + "Copyright 2024 all rights reserved\n" * n + "</pre></body></html>"


def repeated_paragraphs(n: int) -> str:
    return "<html><body>" + "<p>Share this: Facebook Twitter</p><p>15.08.2024</p>" * (n // 2) + "</body></html>"


def huge_table(rows: int, cols: int) -> str:
    row = "<tr>" + "".join(f"<td>cell {c}</td>" for c in range(cols)) + "</tr>"
    return "<html><body><table>" + row * rows + "</table></body></html>"


def one_long_line(mb: float) -> str:
    """No line break in megabytes of text: the line pass sees one line."""
    return "<html><body><p>" + ("by Anna Smith 12:30 " * int(mb * 1e6 / 20)) + "</p></body></html>"


def binary_html(n: int, every: int = 1, seed: int = 0) -> bytes:
    """HTML with random bytes: all of it (every=1), or one byte in `every` of a text."""
    rng = random.Random(seed)
    chunk = sentence(0, 20).encode() + b" "
    text = bytearray(chunk * (n // len(chunk) + 1))[:n]
    for i in range(0, n, every):
        text[i] = rng.randrange(256)
    return b'<html><head><meta charset="utf-8"></head><body><p>' + bytes(text) + b"</p></body></html>"


# (name, page, reason the default extractor falls back, or None when it must not)
PAGES = [
    ("the issue's sidebar page, N=400", lambda: sidebar_siblings(400), None),
    ("10^4 sibling sidebar boxes", lambda: sidebar_siblings(20_000, words=20), None),
    ("10^4 nested sidebar boxes", lambda: nested_sidebars(10_000), "extract_fallback_depth"),
    ("10^4 nested divs", lambda: nested_divs(10_000), "extract_fallback_depth"),
    ("divs nested just under the depth cap", lambda: nested_divs(MAX_DEPTH - 3), None),
    ("4 MB of div chains just under the depth cap", lambda: deep_chains(4.0, MAX_DEPTH - 3), None),
    ("a 4.5 MB page (under the size cap)", lambda: big_page(4.5), None),
    ("a 10 MB page", lambda: big_page(10.0), "extract_fallback_size"),
    ("10^5 repeated lines", lambda: repeated_lines(100_000), "extract_fallback_size"),
    ("2 x 10^4 repeated furniture paragraphs", lambda: repeated_paragraphs(20_000), "extract_fallback_empty"),
    ("a 2000 x 50 table", lambda: huge_table(2000, 50), None),
    ("one 3 MB line", lambda: one_long_line(3.0), None),
    ("binary bytes throughout", lambda: binary_html(1_000_000), "undecodable"),
    ("binary bytes, one in 500", lambda: binary_html(1_000_000, every=500), None),
]


@contextmanager
def cpu_limit(seconds: float):
    """Raise TimeoutError once this process has used `seconds` more CPU time (between bytecodes:
    a C call that runs on is stopped when it returns)."""

    def stop(signum, frame):
        raise TimeoutError(f"over {seconds:.1f} CPU-s")

    old = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def bound(n_bytes: int) -> float:
    return CPU_S_FLOOR + CPU_S_PER_MB * n_bytes / 1e6


def ingest_like(payload: bytes | str):
    """What ingestion does with a payload: decode, then the default extractor."""
    if isinstance(payload, bytes):
        try:
            html = decode_html(payload).text
        except Undecodable:
            return None
    else:
        html = payload
    return extract_page(html)


@pytest.mark.parametrize("name,make,fallback", PAGES, ids=[p[0] for p in PAGES])
def test_pathological_page_within_cpu_bound(name, make, fallback):
    page = make()
    size = len(page) if isinstance(page, bytes) else len(page.encode("utf-8", "surrogatepass"))
    limit = bound(size)
    t0 = time.process_time()
    with cpu_limit(limit * 3):  # a regression fails here, soon, instead of hanging
        got = ingest_like(page)
    cpu = time.process_time() - t0
    assert cpu <= limit, f"{name}: {cpu:.2f} CPU-s for {size / 1e6:.2f} MB (bound {limit:.2f})"
    if fallback == "undecodable":
        assert got is None
        return
    assert got is not None and got.fallback == fallback, (got.extractor, got.fallback)
    assert got.text.strip()
    if fallback is None:
        assert got.extractor == "resiliparse"


def test_box_passes_alone_are_linear_on_nested_and_sibling_boxes():
    # extract_page sends 10^4-deep pages to the plain extractor before the box passes run;
    # the passes must be linear on their own all the same (the depth cap may change).
    for page in (nested_sidebars(10_000), sidebar_siblings(20_000, words=20)):
        tree = HTMLTree.parse(page)
        limit = bound(len(page))
        t0 = time.process_time()
        with cpu_limit(limit * 3):
            keep_in_text_boxes(tree)
            keep_wrappers_of_the_article(tree)
        assert time.process_time() - t0 <= limit


def test_in_text_boxes_of_the_sidebar_page_are_kept():
    page = sidebar_siblings(400)
    tree = HTMLTree.parse(page)
    assert keep_in_text_boxes(tree) == 200  # each box sits among paragraphs, one short link
    text = extract_page(page).text
    assert sentence(399) in text and sentence(398) in text


def test_line_passes_are_linear():
    lines = "\n".join(["Copyright 2024", "Share this", "12.05.2024", "by Anna Smith", sentence(1)] * 20_000)
    byline = "by A" + "a" * 3_000_000  # one 3 MB "word": a short line for the dateline rules
    spaces = "12.05.2024 ab." + " " * 3_000_000 + "x"  # the sentence-end regex over 3 MB of non-words
    for text in (lines, byline, spaces, one_long_line(3.0)):
        limit = bound(len(text))
        t0 = time.process_time()
        with cpu_limit(limit * 3):
            remove_boilerplate_lines(text)
        assert time.process_time() - t0 <= limit
    pages = [HostPage("example.org", f"Menu\n{sentence(i)}\nFooter line") for i in range(10_000)]
    t0 = time.process_time()
    out = remove_repeated_lines(pages)
    assert time.process_time() - t0 <= bound(sum(len(p.text) for p in pages))
    assert out[0] == sentence(0)


def _naive_stripped_len(node) -> int:
    return len(node.text.strip())


def _naive_linked(node) -> int:
    return sum(len(a.text) for a in node.query_selector_all("a"))


def _random_page(rng: random.Random, n: int) -> str:
    """Random nesting of boxes, paragraphs, links, spans, comments and whitespace."""
    out, open_tags = [], []
    for _ in range(n):
        r = rng.random()
        if r < 0.25 and len(open_tags) < 30:
            tag = rng.choice(["div", "span", "section", "a", "td"])
            cls = ' class="sidebar"' if rng.random() < 0.5 else ""
            out.append(f"<{tag}{cls}>")
            open_tags.append(tag)
        elif r < 0.4 and open_tags:
            out.append(f"</{open_tags.pop()}>")
        elif r < 0.5:
            out.append(rng.choice(["  ", "\n", "\t ", "<!-- note -->", "&nbsp;", "\u3000"]))
        elif r < 0.6:
            out.append(f"<p>{sentence(rng.randrange(50), rng.randrange(1, 30))}</p>")
        else:
            out.append(rng.choice([" ", ""]) + sentence(rng.randrange(50), rng.randrange(1, 8)) + rng.choice([" ", ""]))
    return "<html><body>" + "".join(out) + "</body></html>"


def test_text_stats_equal_the_text_of_every_node():
    """_TextStats's sums (without reading nested subtrees twice) equal node.text's, on random pages."""
    rng = random.Random(23)
    checked = 0
    for _ in range(60):
        tree = HTMLTree.parse(_random_page(rng, 300))
        boxes = tree.body.query_selector_all("[class~=sidebar]").values()
        stats = _TextStats(boxes)
        for node in tree.body.query_selector_all("*").values():
            assert stats.stripped_len(node) == _naive_stripped_len(node)
            assert stats.linked(node) == _naive_linked(node)
            checked += 1
    assert checked > 5_000 and len(stats.ancestors) > 3


# ---------------------------------------------------------------- the fallbacks


def test_time_budget_falls_back_to_the_plain_extractor(monkeypatch):
    page = sidebar_siblings(40)
    assert extract_page(page).fallback is None
    clock = iter(range(0, 10_000, 10))  # every reading of the CPU clock 10 s later than the last
    monkeypatch.setattr(ex.time, "thread_time", lambda: next(clock))
    got = extract_page(page)
    assert (got.extractor, got.fallback) == ("resiliparse-plain-fallback", "extract_fallback_time")
    assert sentence(39) in got.text
    monkeypatch.setenv("WINNOW_EXTRACT_BUDGET_S", "1e9")  # a budget nothing reaches
    assert extract_page(page).fallback is None


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv("WINNOW_EXTRACT_BUDGET_S", raising=False)
    assert ex.extract_budget_s() == ex.DEFAULT_EXTRACT_BUDGET_S
    monkeypatch.setenv("WINNOW_EXTRACT_BUDGET_S", "0.5")
    assert ex.extract_budget_s() == 0.5


def test_caps_and_reasons():
    assert set(FALLBACK_REASONS) == {
        "extract_fallback_size",
        "extract_fallback_depth",
        "extract_fallback_time",
        "extract_fallback_empty",
    }
    just_over = "<html><body><p>" + "x " * (MAIN_CONTENT_MAX_CHARS // 2) + "</p></body></html>"
    assert extract_page(just_over).fallback == "extract_fallback_size"
    assert extract_page(just_over, "resiliparse-old").fallback == "extract_fallback_size"
    assert extract_page(nested_divs(MAX_DEPTH)).fallback == "extract_fallback_depth"
    assert extract_page(nested_divs(MAX_DEPTH - 3)).fallback is None  # <html>, <body>: depth 2 already
    assert extract_page(just_over, "trafilatura").fallback == "extract_fallback_size"
    assert re.search(r"\S", extract_page(just_over, "resiliparse-plain").text)
