"""Selection method `kenlm`: word-level KenLM perplexity of the reference text (lower = kept).

The scorer of tasks/selection/kenlm_lm.py as a registry method (tasks/selection/registry.py):
the model is trained once on the Wikipedia leads (train split) and cached in the workspace;
choosing is the score rules of the byte-level `perplexity` method (band, keep_fraction,
min/max score, token budget), lowest perplexity first.
"""

from __future__ import annotations

from tasks.selection.kenlm_lm import reference_kenlm, reference_key
from tasks.selection.methods import ByScore
from tasks.selection.selection import Scorer


class KenLMPerplexity(ByScore):
    def fit(self, spec, fit_docs, workspace):
        lm = reference_kenlm(spec.kenlm.order, workspace)
        return Scorer(spec.method, lambda texts, ids: lm.perplexity(texts), {"order": lm.order, "unit": "word"})

    def prepare(self, workspace, ref, spec):
        reference_kenlm(spec.kenlm.order, workspace)
        return reference_key(spec.kenlm.order)


KENLM = KenLMPerplexity()
