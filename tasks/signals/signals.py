"""Per-document quality signals, computed once per ingested source (RedPajama-V2 style).

Every rule of datatrove 0.10.1's GopherQualityFilter, GopherRepetitionFilter,
C4QualityFilter and FineWebQualityFilter becomes a column here, with the same
definitions and the same tokenisation, so that a recipe filters with SQL over these
columns (sql/filters/*.sql) instead of re-reading the text.

How it stays exact and fast:
- Words: datatrove's English word tokenizer is spaCy's blank-English tokenizer
  (+ dropping whitespace tokens). We run that same tokenizer, once per document, and
  read its tokens as arrays (`Doc.to_array`): ORTH hashes, offsets, IS_PUNCT. All
  four rule families reuse that one tokenisation.
- Per-word properties (length, "non-symbol", has-alpha, stop word, character hash)
  are computed once per distinct word string and cached across documents.
- n-grams are integer ids (exact `np.unique` over id pairs) for the top-n-gram rules;
  the duplicate-n-gram rules compare n-grams by their *concatenation* (datatrove joins
  them with ""), which we compare through a 62-bit polynomial hash of the characters
  (two 31-bit primes; a false match has probability ~2^-62 per pair).
- C4 sentence counts (spaCy's sentencizer run on each kept line) are derived from the
  whole-document tokens: spaCy tokenises each whitespace-delimited chunk on its own,
  so a stripped line's tokens are the document's tokens inside that line. Lines that
  lose a citation ("[1]", "[edit]") are re-tokenised on their own, as datatrove does.

Undefined values: every fraction or ratio whose denominator is zero (empty document,
no words, no lines) is 0.0, and so is the mean word length of a document without
words; no signal column is null except `language`/`language_score` when the
documents carry none, the URL features when there is no URL, and `signals_error`
(set only for a document whose signals failed: it then carries an empty text's signals).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# Bump when a definition changes: it is part of the signals folder name and cache key.
SIGNALS_VERSION = "v1"

# --- constants copied from datatrove 0.10.1 (utils/text.py, filters/*) so the
# --- computation does not need datatrove installed; tests check they still agree.
PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    map(chr, (x for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)))
)
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
C4_POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
C4_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
C4_MAX_WORD_LENGTH = 1000
C4_MIN_WORDS_PER_LINE = 3
FINEWEB_SHORT_LINE_LENGTH = 30
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile("\n+")
# The separators str.splitlines() splits on; we need their offsets too.
_SPLITLINES_SEP = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

_P1, _P2, _BASE = 2147483647, 2147483629, 1_000_003


# Signal columns: name -> Arrow type. The order is the file's column order.
SIGNAL_FIELDS: list[tuple[str, pa.DataType]] = [
    ("doc_id", pa.string()),
    ("source", pa.string()),
    # lengths and shape
    ("n_chars", pa.int64()),
    ("n_bytes", pa.int64()),
    ("n_lines", pa.int32()),  # len(text.splitlines())
    ("n_words", pa.int32()),  # datatrove words (spaCy tokens, whitespace dropped)
    # language and URL
    ("language", pa.string()),  # from ingest; py3langid where ingest gave none
    ("language_score", pa.float32()),
    ("domain", pa.string()),  # host, lower-case, without port and leading "www."
    ("tld", pa.string()),  # last label of the host
    ("url_length", pa.int32()),
    # Gopher quality
    ("gopher_n_words", pa.int32()),  # words with a non-punctuation character
    ("gopher_mean_word_length", pa.float64()),  # over those words
    ("gopher_hash_word_ratio", pa.float64()),  # count("#") / n_words (can exceed 1)
    ("gopher_ellipsis_word_ratio", pa.float64()),  # (count("...") + count("…")) / n_words
    ("gopher_bullet_lines_frac", pa.float64()),  # lines starting with • or - (after lstrip)
    ("gopher_ellipsis_lines_frac", pa.float64()),  # lines ending with ... or … (after rstrip)
    ("gopher_alpha_words_frac", pa.float64()),  # words with an alphabetic character
    ("gopher_stop_words", pa.int8()),  # distinct stop words present (0..8)
    # Gopher repetition
    ("rep_dup_para_frac", pa.float64()),
    ("rep_dup_para_char_frac", pa.float64()),
    ("rep_dup_line_frac", pa.float64()),
    ("rep_dup_line_char_frac", pa.float64()),
    *[(f"rep_top_{n}_gram_char_frac", pa.float64()) for n in TOP_NGRAMS],
    *[(f"rep_dup_{n}_gram_char_frac", pa.float64()) for n in DUP_NGRAMS],
    # C4 (line policy of C4QualityFilter defaults, evaluated over every line)
    ("c4_lines", pa.int32()),
    ("c4_lines_kept", pa.int32()),
    ("c4_kept_chars", pa.int64()),  # length of the text C4 would keep
    ("c4_lines_dropped_frac", pa.float64()),
    ("c4_lines_too_long_word", pa.int32()),
    ("c4_lines_no_terminal_punct", pa.int32()),
    ("c4_lines_too_few_words", pa.int32()),
    ("c4_lines_javascript", pa.int32()),
    ("c4_lines_policy", pa.int32()),
    ("c4_sentences", pa.int32()),  # sentences in the kept lines
    ("c4_lorem_ipsum", pa.bool_()),  # a candidate line says "lorem ipsum"
    ("c4_curly_bracket", pa.bool_()),  # a candidate line has "{"
    # FineWeb
    ("fineweb_lines", pa.int32()),  # non-blank lines of text.split("\n")
    ("fineweb_punct_lines_frac", pa.float64()),
    ("fineweb_short_lines_frac", pa.float64()),
    ("fineweb_dup_line_char_frac", pa.float64()),
    ("fineweb_newline_word_ratio", pa.float64()),  # count("\n") / n_words (can exceed 1)
    # A document whose signals could not be computed gets the signals of an empty text
    # (so every quality filter drops it) and the error here; null otherwise.
    ("signals_error", pa.string()),
]
SIGNALS_SCHEMA = pa.schema(SIGNAL_FIELDS)


def _find_duplicates(items: list[str]) -> tuple[int, int]:
    """datatrove's find_duplicates: (#elements seen before, their characters)."""
    unique = set(items)
    return len(items) - len(unique), sum(map(len, items)) - sum(map(len, unique))


class _PowerTable:
    """B^k and B^-k modulo a prime, grown on demand (doubling, numpy)."""

    def __init__(self, p: int):
        self.p = p
        self.inv_base = pow(_BASE, p - 2, p)
        self.pow = np.ones(1, dtype=np.int64)
        self.inv = np.ones(1, dtype=np.int64)

    def ensure(self, n: int) -> None:
        while len(self.pow) < n:
            k = len(self.pow)
            step, istep = pow(_BASE, k, self.p), pow(self.inv_base, k, self.p)
            self.pow = np.concatenate([self.pow, self.pow * step % self.p])
            self.inv = np.concatenate([self.inv, self.inv * istep % self.p])


@dataclass
class _WordProps:
    length: np.ndarray  # int64
    non_symbol: np.ndarray  # bool
    alpha: np.ndarray  # bool
    stop: np.ndarray  # int8, index into STOP_WORDS or -1
    hash1: np.ndarray  # int64, polynomial hash mod _P1
    hash2: np.ndarray  # int64, mod _P2


class SignalComputer:
    """Computes the signal row of one document; keep one per process (it caches)."""

    _CACHE_LIMIT = 2_000_000

    def __init__(self):
        import spacy
        from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, ORTH
        from spacy.pipeline.sentencizer import Sentencizer

        self.nlp = spacy.blank("en")  # exactly datatrove's SpaCyTokenizer("en") tokenisation
        # Tokenisation never reads lexeme attributes; computing the ~20 unused ones
        # (shape, norm, like_num, ...) for every new word was half of the run time.
        getters = self.nlp.vocab.lex_attr_getters
        self.nlp.vocab.lex_attr_getters = {k: getters[k] for k in (IS_PUNCT, IS_SPACE)}
        self._attrs = [ORTH, IDX, IS_PUNCT, IS_SPACE]
        self._punct_set = frozenset(PUNCTUATION)
        self._terminal = _terminal_punctuation_cached()
        self._sent_punct = np.array(
            sorted(self.nlp.vocab.strings.add(c) for c in Sentencizer.default_punct_chars), dtype=np.uint64
        )
        self._stop_index = {w: i for i, w in enumerate(STOP_WORDS)}
        self._pw1, self._pw2 = _PowerTable(_P1), _PowerTable(_P2)
        self._reset_cache()

    # ---- per-word property cache, keyed by spaCy ORTH hash
    def _reset_cache(self) -> None:
        self._index: dict[int, int] = {}
        self._size = 0
        self._arrays = self._allocate(1 << 14)

    @staticmethod
    def _allocate(capacity: int) -> _WordProps:
        return _WordProps(
            np.zeros(capacity, np.int64),
            np.zeros(capacity, bool),
            np.zeros(capacity, bool),
            np.zeros(capacity, np.int8),
            np.zeros(capacity, np.int64),
            np.zeros(capacity, np.int64),
        )

    def _word_props(self, word: str) -> tuple[int, bool, bool, int, int, int]:
        h1 = h2 = 0
        for ch in word:
            o = ord(ch)
            h1 = (h1 * _BASE + o) % _P1
            h2 = (h2 * _BASE + o) % _P2
        return (
            len(word),
            any(ch not in self._punct_set for ch in word),
            any(ch.isalpha() for ch in word),
            self._stop_index.get(word, -1),
            h1,
            h2,
        )

    def _lookup(self, orths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inverse ids of the doc's words 0..U-1, cache rows of the U distinct words)."""
        uniq, inverse = np.unique(orths, return_inverse=True)
        index = self._index
        rows = [index.get(o, -1) for o in uniq.tolist()]
        missing = [i for i, r in enumerate(rows) if r < 0]
        if missing:
            a = self._arrays
            need = self._size + len(missing)
            if need > len(a.length):
                grown = self._allocate(max(need, 2 * len(a.length)))
                for name in ("length", "non_symbol", "alpha", "stop", "hash1", "hash2"):
                    getattr(grown, name)[: self._size] = getattr(a, name)[: self._size]
                self._arrays = a = grown
            strings = self.nlp.vocab.strings
            new_rows = np.arange(self._size, need)
            props = [self._word_props(strings[int(uniq[i])]) for i in missing]
            cols = list(zip(*props))
            a.length[new_rows], a.non_symbol[new_rows], a.alpha[new_rows] = cols[0], cols[1], cols[2]
            a.stop[new_rows], a.hash1[new_rows], a.hash2[new_rows] = cols[3], cols[4], cols[5]
            for i, r in zip(missing, new_rows.tolist()):
                index[int(uniq[i])] = r
                rows[i] = r
            self._size = need
        return inverse.astype(np.int64).reshape(-1), np.asarray(rows, dtype=np.int64)

    # ---- tokenisation (datatrove SpaCyTokenizer.word_tokenize, as arrays)
    def _tokens(self, text: str) -> tuple[np.ndarray, str]:
        try:
            doc = self.nlp.tokenizer(text)
        except Exception:
            if "IS_ALPHA" not in text:  # datatrove's own workaround for this one string
                raise
            text = text.replace("IS_ALPHA", "")
            doc = self.nlp.tokenizer(text)
        arr = doc.to_array(self._attrs) if len(doc) else np.zeros((0, 4), dtype=np.uint64)
        return arr.reshape(-1, 4), text

    def compute_many(self, texts: Iterable[str], batch: int = 1000) -> Iterable[dict[str, Any]]:
        """Signals of each text. spaCy's vocabulary is reset every `batch` documents
        (a memory zone), so lexemes are reused within a batch and memory stays bounded."""
        it = iter(texts)
        while True:
            with self.nlp.memory_zone():
                n = 0
                for text in it:
                    try:
                        out = self.compute(text)
                        out["signals_error"] = None
                    except Exception as exc:  # noqa: BLE001 - one bad document must not lose the shard
                        out = self.compute("")
                        out["signals_error"] = f"{type(exc).__name__}: {exc}"[:500]
                    yield out
                    n += 1
                    if n == batch:
                        break
                else:
                    return

    def compute(self, text: str) -> dict[str, Any]:
        """Signals of one text (call inside a memory zone, or use compute_many)."""
        if self._size > self._CACHE_LIMIT:
            self._reset_cache()
        tokens, tok_text = self._tokens(text)
        is_word = tokens[:, 3] == 0
        words = tokens[is_word]
        inverse, rows = self._lookup(words[:, 0])
        out: dict[str, Any] = {}
        self._lengths(text, words, out)
        self._gopher_quality(text, inverse, rows, out)
        self._gopher_repetition(text, inverse, rows, out)
        self._c4(text, tokens if tok_text is text else None, out)
        self._fineweb(text, out)
        return out

    # ---- families
    @staticmethod
    def _lengths(text: str, words: np.ndarray, out: dict) -> None:
        out["n_chars"] = len(text)
        out["n_bytes"] = len(text.encode("utf-8", "surrogatepass"))
        out["n_lines"] = len(text.splitlines())
        out["n_words"] = int(len(words))

    def _gopher_quality(self, text: str, inverse: np.ndarray, rows: np.ndarray, out: dict) -> None:
        p = self._arrays
        n_words = len(inverse)
        word_rows = rows[inverse]
        lengths = p.length[word_rows]
        non_symbol = p.non_symbol[word_rows]
        n_ns = int(non_symbol.sum())
        out["gopher_n_words"] = n_ns
        out["gopher_mean_word_length"] = float(np.mean(lengths[non_symbol])) if n_ns else 0.0
        if n_words:
            out["gopher_hash_word_ratio"] = text.count("#") / n_words
            out["gopher_ellipsis_word_ratio"] = (text.count("...") + text.count("…")) / n_words
            out["gopher_alpha_words_frac"] = int(p.alpha[word_rows].sum()) / n_words
        else:
            out["gopher_hash_word_ratio"] = out["gopher_ellipsis_word_ratio"] = 0.0
            out["gopher_alpha_words_frac"] = 0.0
        stop = p.stop[rows]
        out["gopher_stop_words"] = int(len(np.unique(stop[stop >= 0])))
        lines = text.splitlines()
        if lines:
            bullets = sum(1 for s in lines if s.lstrip().startswith(("•", "-")))
            ellipsis = sum(1 for s in lines if s.rstrip().endswith(("...", "…")))
            out["gopher_bullet_lines_frac"] = bullets / len(lines)
            out["gopher_ellipsis_lines_frac"] = ellipsis / len(lines)
        else:
            out["gopher_bullet_lines_frac"] = out["gopher_ellipsis_lines_frac"] = 0.0

    def _gopher_repetition(self, text: str, inverse: np.ndarray, rows: np.ndarray, out: dict) -> None:
        n_chars = len(text)
        paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
        lines = _LINE_SPLIT.split(text)
        para_dups, para_chars = _find_duplicates(paragraphs)
        line_dups, line_chars = _find_duplicates(lines)
        out["rep_dup_para_frac"] = para_dups / len(paragraphs)
        out["rep_dup_line_frac"] = line_dups / len(lines)
        out["rep_dup_para_char_frac"] = para_chars / n_chars if n_chars else 0.0
        out["rep_dup_line_char_frac"] = line_chars / n_chars if n_chars else 0.0

        p = self._arrays
        n_words = len(inverse)
        word_rows = rows[inverse]
        lengths = p.length[word_rows]
        cum_len = np.concatenate([[0], np.cumsum(lengths)])

        # top n-grams: n-grams are word tuples (datatrove joins them with " ").
        ids = inverse
        n_uniq = max(len(rows), 1)
        for n in TOP_NGRAMS:
            col = f"rep_top_{n}_gram_char_frac"
            if n_words < n or not n_chars:
                out[col] = 0.0
                continue
            key = ids[:-1] * n_uniq + inverse[n - 1 :]
            _, first, ids, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
            top = counts.max()
            # Counter.most_common(1) breaks ties by first occurrence.
            pos = int(first[counts == top].min())
            gram_chars = int(cum_len[pos + n] - cum_len[pos]) + n - 1
            out[col] = gram_chars * int(top) / n_chars

        # duplicate n-grams: n-grams compared by concatenation (datatrove joins with "").
        if n_words < DUP_NGRAMS[0] or not n_chars:
            for n in DUP_NGRAMS:
                out[f"rep_dup_{n}_gram_char_frac"] = 0.0
            return
        total = int(cum_len[-1])
        self._pw1.ensure(total + 1)
        self._pw2.ensure(total + 1)
        ends = cum_len[1:]
        g1 = np.concatenate([[0], np.cumsum(p.hash1[word_rows] * self._pw1.inv[ends] % _P1)])
        g2 = np.concatenate([[0], np.cumsum(p.hash2[word_rows] * self._pw2.inv[ends] % _P2)])
        for n in DUP_NGRAMS:
            col = f"rep_dup_{n}_gram_char_frac"
            m = n_words - n + 1
            if m <= 0:
                out[col] = 0.0
                continue
            stop = cum_len[n : n + m]
            h1 = (g1[n : n + m] - g1[:m]) % _P1 * self._pw1.pow[stop] % _P1
            h2 = (g2[n : n + m] - g2[:m]) % _P2 * self._pw2.pow[stop] % _P2
            _, gram_ids, counts = np.unique(h1 << 31 | h2, return_inverse=True, return_counts=True)
            repeated = np.flatnonzero(counts[gram_ids] > 1)
            if not len(repeated):
                out[col] = 0.0
                continue
            gram_len = (stop - cum_len[:m])[repeated].tolist()
            out[col] = _greedy_repeated_chars(repeated.tolist(), gram_ids[repeated].tolist(), gram_len, n) / n_chars

    def _c4(self, text: str, tokens: np.ndarray | None, out: dict) -> None:
        starts, ends = _splitlines_spans(text)
        n_lines = len(starts)
        too_long = no_punct = few_words = javascript = policy = 0
        lorem = curly = False
        kept: list[str] = []
        kept_spans: list[tuple[int, int]] = []
        retokenise: list[str] = []
        for start, end in zip(starts, ends):
            raw = text[start:end]
            line = raw.strip()
            words = line.split()
            if len(line) > C4_MAX_WORD_LENGTH and any(len(w) > C4_MAX_WORD_LENGTH for w in words):
                too_long += 1
                continue
            cited = False
            if "[" in line:
                stripped = C4_CITATION.sub("", line)
                cited = stripped != line
                line = stripped
            if not line.endswith(C4_END_PUNCTUATION) or line.endswith("..."):
                no_punct += 1
                continue
            if len(words) < C4_MIN_WORDS_PER_LINE:
                few_words += 1
                continue
            lower = line.lower()
            if "lorem ipsum" in lower:
                lorem = True
            if "javascript" in lower:
                javascript += 1
                continue
            if "{" in line:
                curly = True
            if any(s in lower for s in C4_POLICY_SUBSTRINGS):
                policy += 1
                continue
            kept.append(line)
            if cited or tokens is None:
                retokenise.append(line)
            else:
                lead = len(raw) - len(raw.lstrip())
                kept_spans.append((start + lead, start + lead + len(line)))
        sentences = len(retokenise) and sum(self._sentences_of_line(line) for line in retokenise)
        if kept_spans:
            assert tokens is not None  # spans are only kept when tokens were given
            sentences += self._sentences_in_spans(tokens, kept_spans)
        out["c4_lines"] = n_lines
        out["c4_lines_kept"] = len(kept)
        out["c4_kept_chars"] = len("\n".join(kept).strip())
        out["c4_lines_dropped_frac"] = (n_lines - len(kept)) / n_lines if n_lines else 0.0
        out["c4_lines_too_long_word"] = too_long
        out["c4_lines_no_terminal_punct"] = no_punct
        out["c4_lines_too_few_words"] = few_words
        out["c4_lines_javascript"] = javascript
        out["c4_lines_policy"] = policy
        out["c4_sentences"] = int(sentences)
        out["c4_lorem_ipsum"] = lorem
        out["c4_curly_bracket"] = curly

    def _sentences_of_line(self, line: str) -> int:
        tokens, _ = self._tokens(line)
        return self._sentences_in_spans(tokens, [(0, len(line))]) if len(tokens) else 1

    def _sentences_in_spans(self, tokens: np.ndarray, spans: list[tuple[int, int]]) -> int:
        """spaCy Sentencizer over each span's tokens: 1 + #tokens that start a sentence.

        A token starts a sentence when it is neither punctuation nor a sentence-final
        character and a sentence-final character came after the previous such token
        (or the span start)."""
        idx = tokens[:, 1].astype(np.int64)
        span_arr = np.asarray(spans, dtype=np.int64)
        first = np.searchsorted(idx, span_arr[:, 0], side="left")
        last = np.searchsorted(idx, span_arr[:, 1], side="left")
        sel = np.concatenate([np.arange(a, b) for a, b in zip(first.tolist(), last.tolist())])
        span_of = np.repeat(np.arange(len(spans)), last - first)
        orth = tokens[sel, 0]
        final = np.isin(orth, self._sent_punct)
        normal = (tokens[sel, 2] == 0) & ~final
        c_final = np.concatenate([[0], np.cumsum(final)])
        normal_pos = np.flatnonzero(normal)
        # The boundary before each normal token: the previous normal token in the same span, else the span start.
        span_start = np.concatenate([[0], np.cumsum(last - first)])[:-1]
        prev = np.concatenate([[-1], normal_pos[:-1]])
        same_span = np.concatenate([[False], span_of[normal_pos[1:]] == span_of[normal_pos[:-1]]])
        after = np.where(same_span, prev + 1, span_start[span_of[normal_pos]])
        boundaries = int(((c_final[normal_pos] - c_final[after]) > 0).sum())
        return len(spans) + boundaries

    def _fineweb(self, text: str, out: dict) -> None:
        lines = [line for line in text.split("\n") if line.strip() != ""]
        out["fineweb_lines"] = len(lines)
        n_words = out["n_words"]
        newlines = text.count("\n")
        out["fineweb_newline_word_ratio"] = newlines / n_words if n_words else 0.0
        if not lines:
            out["fineweb_punct_lines_frac"] = out["fineweb_short_lines_frac"] = 0.0
            out["fineweb_dup_line_char_frac"] = 0.0
            return
        terminal = self._terminal
        out["fineweb_punct_lines_frac"] = sum(1 for line in lines if line[-1] in terminal) / len(lines)
        out["fineweb_short_lines_frac"] = sum(1 for line in lines if len(line) <= FINEWEB_SHORT_LINE_LENGTH) / len(
            lines
        )
        out["fineweb_dup_line_char_frac"] = _find_duplicates(lines)[1] / (len(text) - newlines)


def _greedy_repeated_chars(positions: list[int], gram_ids: list[int], gram_len: list[int], n: int) -> int:
    """datatrove's find_all_duplicate, visiting only n-grams that occur more than once.

    The scan moves one word on, or n words on after a repeat. N-grams that occur once
    never match and their presence in the seen-set changes nothing, so skipping them
    gives the same total."""
    seen: set[int] = set()
    repeated = 0
    next_idx = 0
    for pos, gid, length in zip(positions, gram_ids, gram_len):
        if pos < next_idx:
            continue
        if gid in seen:
            repeated += length
            next_idx = pos + n
        else:
            seen.add(gid)
            next_idx = pos + 1
    return repeated


def _splitlines_spans(text: str) -> tuple[list[int], list[int]]:
    """Start/end offsets of text.splitlines()."""
    starts, ends = [], []
    pos = 0
    for m in _SPLITLINES_SEP.finditer(text):
        starts.append(pos)
        ends.append(m.start())
        pos = m.end()
    if pos < len(text):
        starts.append(pos)
        ends.append(len(text))
    return starts, ends


_TERMINAL_CACHE: frozenset[str] | None = None


def _terminal_punctuation_cached() -> frozenset[str]:
    global _TERMINAL_CACHE
    if _TERMINAL_CACHE is None:
        from tasks.signals._terminal_punctuation import TERMINAL_PUNCTUATION

        _TERMINAL_CACHE = frozenset(TERMINAL_PUNCTUATION)
    return _TERMINAL_CACHE


# ---------------------------------------------------------------- URL features


def url_features(url: str | None) -> tuple[str | None, str | None, int | None]:
    """(domain, tld, url length): host lower-cased without port and "www."; last label."""
    if not url:
        return None, None, None
    try:
        # Some sources store URLs without a scheme ("example.com/a"): read them as http.
        host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower().rstrip(".")
    except ValueError:
        host = ""
    if host.startswith("www."):
        host = host[4:]
    if " " in host:
        host = ""
    tld = host.rsplit(".", 1)[-1] if "." in host else None
    return host or None, tld, len(url)


# ---------------------------------------------------------------- tables and shards

_COMPUTER: SignalComputer | None = None


def get_computer() -> SignalComputer:
    global _COMPUTER
    if _COMPUTER is None:
        _COMPUTER = SignalComputer()
    return _COMPUTER


def compute_signals(docs: pa.Table, progress: bool = False) -> pa.Table:
    """Signals of a DOCS-schema table (needs doc_id and text; uses source, url,
    language, language_score when present)."""
    comp = get_computer()
    names = set(docs.column_names)
    texts = docs.column("text").to_pylist()
    n = len(texts)

    def col(name: str) -> list:
        return docs.column(name).to_pylist() if name in names else [None] * n

    rows: dict[str, list] = {name: [] for name, _ in SIGNAL_FIELDS}
    it: Iterable = texts
    if progress:
        from tqdm import tqdm

        it = tqdm(texts, desc="signals", unit="doc")
    for sig in comp.compute_many(text or "" for text in it):
        for k, v in sig.items():
            rows[k].append(v)
    rows["doc_id"] = col("doc_id")
    rows["source"] = col("source")
    rows["language"], rows["language_score"] = _languages(texts, col("language"), col("language_score"))
    feats = [url_features(u) for u in col("url")]
    rows["domain"] = [f[0] for f in feats]
    rows["tld"] = [f[1] for f in feats]
    rows["url_length"] = [f[2] for f in feats]
    return pa.table({name: pa.array(rows[name], type=typ) for name, typ in SIGNAL_FIELDS}, schema=SIGNALS_SCHEMA)


# datatrove's top n-gram "character fraction" counts overlapping occurrences
# (count x n-gram length / document length), so a text like "ha ha ha ..." exceeds 1.
UNBOUNDED_FRACS = {f"rep_top_{n}_gram_char_frac" for n in TOP_NGRAMS}

_NULLABLE = {"language", "language_score", "domain", "tld", "url_length", "signals_error", "doc_id", "source"}


def check_signals(table: pa.Table, where: str = "signals") -> None:
    """The signals contract: fractions in [0, 1], ratios >= 0, no nulls where none are
    defined. A violation is a bug in this module, so it stops the shard loudly."""
    import pyarrow.compute as pc

    for name in table.column_names:
        column = table.column(name)
        if name not in _NULLABLE and column.null_count:
            raise ValueError(f"{where}: signal {name} has {column.null_count} nulls")
        if pa.types.is_floating(column.type) and name not in _NULLABLE and len(column):
            lo, hi = pc.min(column).as_py(), pc.max(column).as_py()
            if (
                lo < 0
                or (name.endswith("_frac") and name not in UNBOUNDED_FRACS and hi > 1)
                or any(map(math.isnan, (lo, hi)))
            ):
                raise ValueError(f"{where}: signal {name} out of range [{lo}, {hi}]")


_LANGID = None


def _languages(texts: list, languages: list, scores: list) -> tuple[list, list]:
    """Ingest's language and score; where it gave none, py3langid's (normalised
    probability), so that every document with text has a language signal."""
    global _LANGID
    languages, scores = list(languages), list(scores)
    for i, (text, lang) in enumerate(zip(texts, languages)):
        if lang is None and text and text.strip():
            if _LANGID is None:
                import py3langid.langid as langid

                _LANGID = langid.LanguageIdentifier.from_modelpath(
                    langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
                )
            languages[i], score = _LANGID.classify(text)
            scores[i] = float(score)
    return languages, scores


def signals_shard(docs_path: str | Path, out_path: str | Path) -> dict[str, Any]:
    """Compute one docs shard's signals into `out_path` (written atomically)."""
    docs_path, out_path = Path(docs_path), Path(out_path)
    docs = pq.read_table(docs_path, columns=["doc_id", "source", "url", "text", "language", "language_score"])
    table = compute_signals(docs)
    check_signals(table, where=str(docs_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out_path)
    errors = table.num_rows - table.column("signals_error").null_count
    return {"shard": out_path.name, "documents": table.num_rows, "errors": errors}


# ---------------------------------------------------------------- the workspace stage


@dataclass(frozen=True)
class SignalsRef:
    """A finished signals folder: `signals/<docs_hash16>-<SIGNALS_VERSION>/shard-NNNNN.parquet`."""

    name: str
    key: str
    docs_hash: str
    dir: Path
    shards: tuple[Path, ...]
    documents: int


def signals_key(docs_hash: str) -> str:
    from tasks.core.hashing import short

    return f"{short(docs_hash)}-{SIGNALS_VERSION}"


def signals_ref(workspace, docs_ref) -> SignalsRef | None:
    """The finished signals of an ingested source (a tasks.core.docsref.DocsRef), or None."""
    key = signals_key(docs_ref.docs_hash)
    if not workspace.is_done("signals", key):
        return None
    info = workspace.read_done("signals", key)
    folder = workspace.stage_dir("signals", key)
    return SignalsRef(
        docs_ref.name,
        key,
        docs_ref.docs_hash,
        folder,
        tuple(folder / s for s in info["shards"]),
        int(info.get("documents", 0)),
    )


def resolve_signals(workspace, name_or_key: str) -> SignalsRef:
    """The signals of the ingested source `name_or_key` (LookupError if not computed)."""
    from tasks.core.docsref import resolve_docs

    docs = resolve_docs(workspace, name_or_key)
    ref = signals_ref(workspace, docs)
    if ref is None:
        raise LookupError(
            f"no signals for source {name_or_key!r} (docs {docs.source_key}); "
            f"run `python -m flows.signals {name_or_key}` first"
        )
    return ref


def signals_info(docs_ref, documents: int) -> dict[str, Any]:
    """The `_SUCCESS` record of a signals folder."""
    return {
        "name": docs_ref.name,
        "docs_hash": docs_ref.docs_hash,
        "signals_version": SIGNALS_VERSION,
        "shards": [s.name for s in docs_ref.shards],
        "documents": documents,
    }


def build_signals(workspace, docs_ref) -> SignalsRef:
    """Signals of every shard in this process, no Prefect or Dask (tests, small sources).
    flows/signals.py does the same with one Dask task per shard."""
    key = signals_key(docs_ref.docs_hash)
    done = signals_ref(workspace, docs_ref)
    if done is not None:
        return done
    out_dir = workspace.stage_dir("signals", key)
    documents = sum(signals_shard(shard, out_dir / shard.name)["documents"] for shard in docs_ref.shards)
    workspace.mark_done("signals", key, signals_info(docs_ref, documents))
    ref = signals_ref(workspace, docs_ref)
    assert ref is not None  # marked done just above
    return ref
