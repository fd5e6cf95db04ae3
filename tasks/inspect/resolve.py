"""Find a dataset by what a user types: an arm of a suite, a recipe name, or a dataset key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tasks.core.catalog import Catalog
from tasks.core.workspace import Workspace


@dataclass(frozen=True)
class FoundDataset:
    key: str  # datasets/<key>/ (the recipe's data hash, 16 hex digits)
    dir: Path
    label: str  # the arm or recipe name it was found by (the key when found by key)
    suite: str | None = None

    @property
    def stats(self) -> dict:
        return json.loads((self.dir / "stats.json").read_text())


def resolve_dataset(ws: Workspace, name: str, suite: str | None = None) -> FoundDataset:
    """`name` as a dataset key (or its prefix), an arm of `suite` (default: the latest
    suite it ran in), or a recipe name; LookupError listing what exists otherwise."""
    root = ws.root / "datasets"
    if (root / name / "_SUCCESS").exists():
        return FoundDataset(name, root / name, name)
    catalog = Catalog(ws.catalog_path)
    runs = catalog.query("arm_suites", {"arm": name})
    if suite is not None:
        runs = [r for r in runs if r["suite"] == suite]
    for r in runs:
        if (root / r["dataset_key"] / "_SUCCESS").exists():
            return FoundDataset(r["dataset_key"], root / r["dataset_key"], name, r["suite"])
    if suite is None:
        for r in catalog.query("dataset_by_recipe", {"recipe": name}):
            key = r["data_hash"][:16]
            if (root / key / "_SUCCESS").exists():
                return FoundDataset(key, root / key, name)
        prefixed = [p.parent.name for p in root.glob(f"{name}*/_SUCCESS")] if len(name) >= 6 else []
        if len(prefixed) == 1:
            return FoundDataset(prefixed[0], root / prefixed[0], prefixed[0])
    arms = catalog.query("suite_arms_all")
    known = ", ".join(f"{a['arm']} ({'/'.join(a['suites'])})" for a in arms) or "none"
    where = f" in suite {suite!r}" if suite else ""
    raise LookupError(
        f"no dataset for {name!r}{where} in {ws.root}: not an arm, a recipe or a dataset key; "
        f"known arms (suites): {known}"
    )


def suite_datasets(ws: Workspace, suite: str) -> dict[str, FoundDataset]:
    """arm -> its dataset, for every completed arm of `suite`."""
    out = {}
    for r in Catalog(ws.catalog_path).query("arm_datasets", {"suite": suite}):
        d = ws.root / "datasets" / r["dataset_key"]
        if (d / "_SUCCESS").exists():
            out[r["arm"]] = FoundDataset(r["dataset_key"], d, r["arm"], suite)
    return out
