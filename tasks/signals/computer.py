"""Per-document quality signals of one text (RedPajama-V2 style): `SignalComputer`.

Every rule of datatrove 0.10.1's GopherQualityFilter, GopherRepetitionFilter,
C4QualityFilter and FineWebQualityFilter becomes a column (tasks/signals/schema.py), with
the same definitions and the same tokenisation, so that a recipe filters with SQL over
these columns (sql/filters/*.sql) instead of re-reading the text.

How it stays exact and fast:
- Words: datatrove's English word tokenizer is spaCy's blank-English tokenizer
  (+ dropping whitespace tokens). We run that same tokenizer, once per document, and
  read its tokens as arrays (`Doc.to_array`): ORTH hashes, offsets, IS_PUNCT. All
  four rule families reuse that one tokenisation.
- Per-word properties (length, "non-symbol", has-alpha, stop word, character hash)
  are computed once per distinct word string and cached across documents
  (tasks/signals/words.py).
- n-grams are integer ids (exact `np.unique` over id pairs) for the top-n-gram rules;
  the duplicate-n-gram rules compare n-grams by their *concatenation* (datatrove joins
  them with ""), which we compare through a 62-bit polynomial hash of the characters.
- C4 sentence counts (spaCy's sentencizer run on each kept line) are derived from the
  whole-document tokens: spaCy tokenises each whitespace-delimited chunk on its own,
  so a stripped line's tokens are the document's tokens inside that line. Lines that
  lose a citation ("[1]", "[edit]") are re-tokenised on their own, as datatrove does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from tasks.signals.schema import DUP_NGRAMS, TOP_NGRAMS
from tasks.signals.words import P1, P2, PowerTable, WordCache

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

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile("\n+")

# The separators str.splitlines() splits on; we need their offsets too.
_SPLITLINES_SEP = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class SignalComputer:
    """Computes the signal row of one document; keep one per process (it caches)."""

    def __init__(self):
        import spacy
        from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, ORTH
        from spacy.pipeline.sentencizer import Sentencizer

        self.nlp = spacy.blank("en")  # exactly datatrove's SpaCyTokenizer("en") tokenisation
        # Tokenisation never reads lexeme attributes; computing the ~20 unused ones
        # (shape, norm, like_num, ...) for every new word was half of the run time.
        vocab: Any = self.nlp.vocab  # lex_attr_getters is a Cython attribute spaCy's stubs omit
        vocab.lex_attr_getters = {k: vocab.lex_attr_getters[k] for k in (IS_PUNCT, IS_SPACE)}
        self._attrs = [ORTH, IDX, IS_PUNCT, IS_SPACE]
        self._terminal = _terminal_punctuation_cached()
        self._sent_punct = np.array(
            sorted(self.nlp.vocab.strings.add(c) for c in Sentencizer.default_punct_chars), dtype=np.uint64
        )
        self._pw1, self._pw2 = PowerTable(P1), PowerTable(P2)
        self._words = WordCache(frozenset(PUNCTUATION), {w: i for i, w in enumerate(STOP_WORDS)})

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
        if self._words.size > WordCache.LIMIT:
            self._words.reset()
        tokens, tok_text = self._tokens(text)
        is_word = tokens[:, 3] == 0
        words = tokens[is_word]
        inverse, rows = self._words.lookup(words[:, 0], self.nlp.vocab.strings)
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
        p = self._words.arrays
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

        p = self._words.arrays
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
        g1 = np.concatenate([[0], np.cumsum(p.hash1[word_rows] * self._pw1.inv[ends] % P1)])
        g2 = np.concatenate([[0], np.cumsum(p.hash2[word_rows] * self._pw2.inv[ends] % P2)])
        for n in DUP_NGRAMS:
            col = f"rep_dup_{n}_gram_char_frac"
            m = n_words - n + 1
            if m <= 0:
                out[col] = 0.0
                continue
            stop = cum_len[n : n + m]
            h1 = (g1[n : n + m] - g1[:m]) % P1 * self._pw1.pow[stop] % P1
            h2 = (g2[n : n + m] - g2[:m]) % P2 * self._pw2.pow[stop] % P2
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


def _find_duplicates(items: list[str]) -> tuple[int, int]:
    """datatrove's find_duplicates: (#elements seen before, their characters)."""
    unique = set(items)
    return len(items) - len(unique), sum(map(len, items)) - sum(map(len, unique))


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


_COMPUTER: SignalComputer | None = None


def get_computer() -> SignalComputer:
    global _COMPUTER
    if _COMPUTER is None:
        _COMPUTER = SignalComputer()
    return _COMPUTER
