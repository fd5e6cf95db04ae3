"""Language identification with py3langid: its model ships inside the wheel, so
nothing is downloaded at run time. Probabilities are normalised, score in [0, 1]."""

from __future__ import annotations

from functools import lru_cache

# Enough text for a stable decision; classifying whole long pages only costs time.
PREFIX_CHARS = 2000


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str, prefix_chars: int = PREFIX_CHARS) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of the text's language; ('und', 0.0) if no text."""
    sample = text[:prefix_chars].strip()
    if not sample:
        return "und", 0.0
    lang, score = _identifier().classify(sample)
    return lang, float(min(1.0, max(0.0, score)))
