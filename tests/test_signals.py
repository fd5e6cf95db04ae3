"""Signals on hand-written edge cases (values worked out by hand, and checked against
datatrove's own code where it defines them) and on real documents."""

from __future__ import annotations

import math

import pyarrow.parquet as pq
import pytest

from tasks.signals.computer import C4_POLICY_SUBSTRINGS, PUNCTUATION, STOP_WORDS, SignalComputer
from tasks.signals.schema import SIGNALS_SCHEMA
from tasks.signals.signals import compute_signals, signals_shard, url_features
from tests._docs_workspace import docs_table


@pytest.fixture(scope="module")
def comp():
    return SignalComputer()


def sig(comp, text):
    return next(iter(comp.compute_many([text])))


def test_constants_match_datatrove():
    import datatrove.utils.text as dt_text
    from datatrove.pipeline.filters import c4_filters, gopher_quality_filter

    from tasks.signals._terminal_punctuation import TERMINAL_PUNCTUATION

    assert TERMINAL_PUNCTUATION == frozenset(dt_text.TERMINAL_PUNCTUATION)
    assert PUNCTUATION == dt_text.PUNCTUATION
    assert list(STOP_WORDS) == gopher_quality_filter.STOP_WORDS
    assert list(C4_POLICY_SUBSTRINGS) == c4_filters.POLICY_SUBSTRINGS


def test_empty_and_whitespace_documents_are_all_zero(comp):
    for text in ("", "   \n\n \t "):
        s = sig(comp, text)
        assert s["n_words"] == 0 and s["gopher_n_words"] == 0 and s["fineweb_lines"] == 0
        for k, v in s.items():
            if isinstance(v, float) and k != "c4_lines_dropped_frac":
                assert v == 0.0, (text, k)
        assert s["c4_sentences"] == 0 and s["c4_lines_kept"] == 0 and not s["c4_lorem_ipsum"]
    assert sig(comp, "")["n_chars"] == 0 and sig(comp, "")["c4_lines"] == 0
    blank = sig(comp, "   \n\n \t ")
    assert blank["c4_lines"] == 3 and blank["c4_lines_dropped_frac"] == 1.0


def test_gopher_quality_signals(comp):
    text = "# The cat sat...\n- and the dog ran\n• with ### hats…\n$$ %% 42"
    s = sig(comp, text)
    # spaCy words: # The cat sat ... - and the dog ran • with # # # hats … $ $ % % 42
    assert s["n_words"] == 22
    assert "•" not in PUNCTUATION and all(c in PUNCTUATION for c in "#.-…$%")
    assert s["gopher_n_words"] == 11  # The cat sat and the dog ran • with hats 42
    assert s["gopher_hash_word_ratio"] == 4 / 22
    assert s["gopher_ellipsis_word_ratio"] == 2 / 22
    assert s["gopher_bullet_lines_frac"] == 2 / 4
    assert s["gopher_ellipsis_lines_frac"] == 2 / 4
    assert s["gopher_alpha_words_frac"] == 9 / 22
    assert s["gopher_stop_words"] == 3  # the, and, with
    assert math.isclose(s["gopher_mean_word_length"], 32 / 11)


def test_repetition_lines_paragraphs_and_ngrams(comp):
    para = "alpha beta gamma delta epsilon"
    text = f"{para}\n\n{para}\n\nzeta eta"
    s = sig(comp, text)
    assert s["rep_dup_para_frac"] == 1 / 3
    assert s["rep_dup_para_char_frac"] == len(para) / len(text)
    # re.split("\n+") gives the same three pieces
    assert s["rep_dup_line_frac"] == 1 / 3
    # top 2-gram "alpha beta" twice (first of the tied n-grams): 10 chars * 2
    assert s["rep_top_2_gram_char_frac"] == 2 * len("alpha beta") / len(text)
    # the second copy of the 5-gram is a repeat: its concatenation counted once
    assert s["rep_dup_5_gram_char_frac"] == len("alphabetagammadeltaepsilon") / len(text)
    assert s["rep_dup_6_gram_char_frac"] == 0.0


def test_duplicate_ngrams_compare_concatenations(comp):
    # datatrove joins dup n-grams with "": "ab c d e f" and "a bc d e f" are the same 5-gram.
    import datatrove.pipeline.filters.gopher_repetition_filter as from_dt

    text = "ab c d e f x a bc d e f"
    s = sig(comp, text)
    words = text.split()
    assert s["rep_dup_5_gram_char_frac"] == from_dt.find_all_duplicate(words, 5) / len(text) == 6 / len(text)


def test_c4_line_policy_and_sentences(comp):
    lines = [
        "This line is fine and ends well.",  # kept, 1 sentence
        "Two sentences here. And another one here!",  # kept, 2 sentences
        "No terminal punctuation here",  # no_terminal_punct
        "Too short.",  # too_few_words
        "Please enable JavaScript to view this page.",  # javascript
        "Read our privacy policy for more details.",  # policy
        "A reference that cites something [1].",  # citation removed -> kept, 1 sentence
        "x" * 1001 + " is a very long word.",  # too_long_word
        "It trails off with an ellipsis...",  # no_terminal_punct (ellipsis)
    ]
    s = sig(comp, "\n".join(lines))
    assert s["c4_lines"] == 9 and s["c4_lines_kept"] == 3
    assert (
        s["c4_lines_no_terminal_punct"],
        s["c4_lines_too_few_words"],
        s["c4_lines_javascript"],
        s["c4_lines_policy"],
        s["c4_lines_too_long_word"],
    ) == (2, 1, 1, 1, 1)
    assert s["c4_sentences"] == 4
    kept = "\n".join([lines[0], lines[1], "A reference that cites something ."])
    assert s["c4_kept_chars"] == len(kept)
    assert s["c4_lines_dropped_frac"] == 6 / 9
    assert not s["c4_lorem_ipsum"] and not s["c4_curly_bracket"]


def test_c4_document_rules_only_see_candidate_lines(comp):
    assert sig(comp, "Lorem ipsum dolor sit amet, consectetur.")["c4_lorem_ipsum"]
    assert not sig(comp, "lorem ipsum without punctuation")["c4_lorem_ipsum"]
    assert sig(comp, "The set {1, 2, 3} is small.")["c4_curly_bracket"]
    # a javascript line is dropped before the bracket check
    assert not sig(comp, "Use javascript like {a: 1} here.")["c4_curly_bracket"]


def test_c4_sentences_match_datatrove_sentencizer(comp):
    from datatrove.utils.text import split_into_sentences as split

    line = 'He said "Stop!" and left. Then... nothing? Yes!! OK. U.S. troops left. (See above.) Fine.'
    s = sig(comp, line)
    assert s["c4_sentences"] == len(split(line))


def test_fineweb_signals(comp):
    text = "A short line\n\nThis line is definitely long enough to count.\nA short line\n   \n- item"
    s = sig(comp, text)
    lines = ["A short line", "This line is definitely long enough to count.", "A short line", "- item"]
    assert s["fineweb_lines"] == 4
    assert s["fineweb_punct_lines_frac"] == 1 / 4
    assert s["fineweb_short_lines_frac"] == 3 / 4
    assert s["fineweb_dup_line_char_frac"] == len(lines[0]) / (len(text) - text.count("\n"))
    assert s["fineweb_newline_word_ratio"] == 5 / s["n_words"]


def test_unicode_and_crlf(comp):
    text = "Ça marche très bien, n'est-ce pas?\r\nDas ist gut。\u2028次の行"
    s = sig(comp, text)
    assert s["n_chars"] == len(text) and s["n_bytes"] == len(text.encode())
    assert s["n_lines"] == 3 == s["c4_lines"]
    assert s["fineweb_lines"] == 2  # split("\n") only


def test_url_features():
    assert url_features("https://WWW.Example.co.uk:8080/a/b?q=1") == ("example.co.uk", "uk", 38)
    assert url_features("http://localhost/x") == ("localhost", None, 18)
    assert url_features(None) == (None, None, None)
    assert url_features("not a url")[0] is None
    assert url_features("16thfleet.wikidot.com/chatter:anewhome")[:2] == ("16thfleet.wikidot.com", "com")


def test_shard_on_real_documents(cc_docs_table, tmp_path):
    src = tmp_path / "docs.parquet"
    pq.write_table(cc_docs_table.slice(0, 120), src)
    info = signals_shard(src, tmp_path / "out" / "shard-00000.parquet")
    table = pq.read_table(tmp_path / "out" / "shard-00000.parquet")
    assert info.documents == 120 == table.num_rows and info.errors == 0
    assert table.schema.equals(SIGNALS_SCHEMA)
    assert table.column("doc_id").to_pylist() == cc_docs_table.column("doc_id").to_pylist()[:120]
    for name in table.column_names:
        if name.endswith("_frac"):
            col = table.column(name).to_pylist()
            assert all(0.0 <= v <= 1.0 for v in col), name
        if name not in ("language", "language_score", "domain", "tld", "url_length", "signals_error"):
            assert table.column(name).null_count == 0, name
    assert set(table.column("tld").to_pylist()) - {None}  # real URLs give TLDs


def test_wikipedia_leads_are_clean_text():
    """Real high-quality prose: almost every lead is kept by Gopher repetition and
    has many stop words; compute on a slice only."""
    from tasks.core.reference import wiki_leads

    leads = wiki_leads("train").slice(0, 60)  # `make data` fetches them: missing is a failure
    table = compute_signals(docs_table(leads.column("text").to_pylist(), source="wiki"))
    cols = table.to_pydict()
    assert sum(v <= 0.3 for v in cols["rep_dup_line_frac"]) == 60
    assert sum(v >= 2 for v in cols["gopher_stop_words"]) >= 55


def test_a_failing_document_is_recorded_not_fatal(monkeypatch):
    comp = SignalComputer()
    real = comp.compute

    def flaky(text):
        if text == "boom":
            raise RuntimeError("tokenizer exploded")
        return real(text)

    monkeypatch.setattr(comp, "compute", flaky)
    rows = list(comp.compute_many(["A fine text.", "boom", "Another one."]))
    assert [r["signals_error"] for r in rows] == [None, "RuntimeError: tokenizer exploded", None]
    assert rows[1]["n_words"] == 0 and rows[2]["n_words"] == 3


def test_language_filled_in_where_ingest_gave_none():
    table = docs_table(
        [
            "Das ist ein ganz normaler deutscher Satz über das Wetter in der Stadt.",
            "This one already has a language.",
            "",
        ],
        languages=[None, "en", None],
    )
    cols = compute_signals(table).to_pydict()
    assert cols["language"][:2] == ["de", "en"] and cols["language"][2] is None
    assert cols["language_score"][0] > 0.9 and cols["language_score"][1] == pytest.approx(0.9)


def test_signals_contract_catches_out_of_range_values():
    from tasks.signals.schema import check_signals

    table = compute_signals(docs_table(["Some text here. And more text."]))
    check_signals(table)
    broken = table.set_column(
        table.schema.get_field_index("fineweb_short_lines_frac"),
        "fineweb_short_lines_frac",
        __import__("pyarrow").array([1.5]),
    )
    with pytest.raises(ValueError, match="fineweb_short_lines_frac out of range"):
        check_signals(broken)


def test_top_ngram_char_fraction_can_exceed_one_like_datatrove():
    """Overlapping repeats: datatrove counts count x length / len(text), which exceeds 1;
    the signals contract must accept it (a real wget page tripped it)."""
    from datatrove.pipeline.filters.gopher_repetition_filter import find_top_duplicate, get_n_grams
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from tasks.signals.schema import check_signals
    from tasks.signals.signals import compute_signals
    from tests._docs_workspace import docs_table

    text = " ".join(["ha"] * 21)
    sig = compute_signals(docs_table([text]))
    words = load_word_tokenizer("en").word_tokenize(text)
    expected = find_top_duplicate(get_n_grams(words, 4)) / len(text)
    assert sig.column("rep_top_4_gram_char_frac").to_pylist()[0] == pytest.approx(expected)
    assert expected > 1
    check_signals(sig)
