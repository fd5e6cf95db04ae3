"""What the evaluate stage hands to the report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EvalResult:
    """An evaluation (`evals/<eval_key>/`) and its score rows (task, metric, value)."""

    eval_key: str
    results_dir: Path
    scores: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)  # what `_SUCCESS` holds, plus "cached"

    @property
    def cached(self) -> bool:
        return bool(self.summary.get("cached"))

    def to_dict(self) -> dict[str, Any]:
        """The summary (what the catalog's eval rows are made from)."""
        return dict(self.summary)

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> EvalResult:
        """From tasks.evaluate.harness.evaluate_model's summary; reads its scores.json."""
        results_dir = Path(summary["results_dir"])
        path = results_dir / "scores.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: evaluation {summary.get('eval_key')} wrote no scores")
        return cls(summary["eval_key"], results_dir, json.loads(path.read_text())["rows"], summary)
