"""`python -m flows.ablation [SUITE_OR_RECIPE...]`: run a suite of recipes end to end.

With no argument it runs the default suite (recipes/suites/default.yaml) on the embedded
default: Prefect's own API started once for this job, a local Dask cluster, the DuckDB
catalog in the workspace. Each source is ingested and scored once; each arm is a subflow
run named after its recipe (curate -> validate -> tokens -> train -> evaluate), every
stage cached by content hash, so a rerun or a new arm recomputes only what changed. A
failed arm is recorded and its siblings go on. The leaderboard is printed at the end.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows import _runtime
from flows.curate import run_curate
from flows.decontam import map_decontam_scan
from flows.dedup import clusters_on_cluster, map_signatures
from flows.evaluate import evaluate_flow
from flows.ingest import run_ingest
from flows.report import report_flow
from flows.select import score_flow
from flows.signals import run_signals
from flows.train import run_train
from tasks import validation as V
from tasks.attribution import reuse
from tasks.attribution.design import AblationDesign
from tasks.attribution.removals import data_side
from tasks.core.catalog import Catalog
from tasks.core.docsref import resolve_docs
from tasks.core.logs import set_verbose, verbose
from tasks.core.workspace import Workspace
from tasks.curate import steps as curate_steps
from tasks.curate.pipeline import validate_arms
from tasks.evaluate.results import EvalResult
from tasks.recipe import Recipe
from tasks.report import adaptive, metrics
from tasks.selection.registry import get_method
from tasks.selection.spec import TopicsSpec
from tasks.suite import REPO, DecideSpec, Suite, arm_for_seed, load_suite, suite_from_recipe
from tasks.train.results import TrainResult
from tasks.train.spec import PRESETS
from tasks.validation.contracts import matched_tokens as MT

DEFAULT_SUITE = REPO / "recipes" / "suites" / "default.yaml"
STAGES = ("docs", "signals", "dedup", "selection", "doc_tokens", "datasets", "tokens", "models", "evals")


def evaluate_arm(recipe: Recipe, trained: TrainResult, ws: Workspace, dask_address: str | None) -> EvalResult:
    """The arm's evaluation, as its recipe's `eval:` section asks (every field of EvalSpec)."""
    spec = recipe.eval
    return evaluate_flow(
        str(trained.model_dir),
        tasks=spec.tasks,
        limit=spec.limit,
        full=spec.full,
        batch_size=spec.batch_size,
        workspace=str(ws.root),
        dask_address=dask_address,
    )


@flow(name="arm", log_prints=True, validate_parameters=True)
def arm_flow(
    recipe: Recipe, suite: str = "adhoc", seed: int = 0, workspace: str | None = None, dask_address: str | None = None
) -> dict[str, float]:
    """One arm: the recipe's dataset, a proxy model trained on it, its scores."""
    started = _now()
    ws = Workspace.from_env(workspace)
    recipe = arm_for_seed(recipe, seed)  # init, data order, and a sampling selection's sample
    if dask_address:
        curate_on_cluster(ws, recipe, dask_address)
    dataset = run_curate(recipe, ws.root, dask_address)
    matched = arm_tokens(recipe.name, dataset.stats)
    if recipe.token_budget and matched is not None:
        # before any training: an arm that cannot reach the budget fails here, saying so
        validate_matched_tokens(ws, [matched], recipe.token_budget, f"matched-{dataset.key}", recipe)
    validate_dataset(ws, recipe, dataset.key, real_tokens=matched is not None)
    trained = run_train(ws, dataset.key, recipe.train, dask_address=dask_address, online=recipe.mixture.online)
    validate_tokens(ws, trained, recipe)
    contracts_ran(ws, [f"dataset-{dataset.key}", f"tokens-{trained.tokens_key}"])
    if matched is not None:
        dataset.check_packed(ws, trained, recipe.train.seed)
    evaluated = evaluate_arm(recipe, trained, ws, dask_address)
    numbers = {
        **metrics.dataset_metrics(dataset.stats),
        **metrics.train_metrics(trained.summary),
        **metrics.eval_metrics(evaluated.scores),
    }
    _record_arm(
        ws,
        suite,
        recipe,
        seed,
        "completed",
        None,
        numbers,
        dataset_key=dataset.key,
        model_key=trained.model_key,
        eval_key=evaluated.eval_key,
        curve_path=str(trained.curves_path),
        started_at=started,
    )
    return numbers


def default_max_parallel() -> int:
    """Concurrent arm runs when not told: half the cores, 1 to 4.

    Why half: an arm's curate, tokenise and validate stages are one busy Python thread each,
    and the Dask workers and the training (which uses every physical core, one training at
    a time: tasks/core/torchlock.py) need the other half. Why at most 4: each arm holds
    its dataset and DuckDB working set in this process's memory."""
    return max(1, min(4, (os.cpu_count() or 1) // 2))


@dataclass(frozen=True)
class ArmOutcome:
    """One arm x seed run: its leaderboard numbers, or the traceback it failed with."""

    arm: str
    seed: int
    run_name: str
    numbers: dict[str, float] | None
    traceback: str | None


def _run_arm(ws: Workspace, suite: str, arm: Recipe, seed: int, dask_address: str | None) -> ArmOutcome:
    """One arm x seed as its own subflow run; a failure is recorded, never raised (one
    failed arm must not stop its siblings)."""
    run_name = f"{arm.name}-seed{seed}"
    started = _now()
    try:
        # With a cluster the arm's mapped tasks (tokenising its dataset's parts) go to it too.
        options: dict[str, Any] = {"flow_run_name": run_name}
        if dask_address:
            options["task_runner"] = _runtime.dask_task_runner(dask_address)
        with tags(f"suite:{suite}", f"recipe:{arm.content_hash()[:12]}", f"arm:{arm.name}"):
            numbers = arm_flow.with_options(**options)(arm, suite, seed, str(ws.root), dask_address)
        return ArmOutcome(arm.name, seed, run_name, numbers, None)
    except Exception as exc:
        get_run_logger().error("arm %s failed: %s", run_name, exc)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        _record_arm(ws, suite, arm, seed, "failed", error, {}, started_at=started)
        formatted = traceback.format_exc(limit=3)
        # Prefect keeps the failed state, and with it this traceback's frames, until exit: free
        # their locals now (a curate step's DuckDB objects were reported as leaks at shutdown).
        traceback.clear_frames(exc.__traceback__)
        return ArmOutcome(arm.name, seed, run_name, None, formatted)


def _now() -> datetime:
    """UTC wall time without a zone (the catalog's TIMESTAMP columns)."""
    return datetime.now(UTC).replace(tzinfo=None)


def curate_on_cluster(ws: Workspace, recipe: Recipe, dask_address: str) -> None:
    """The per-shard heavy stages of the arm's curation, as Dask tasks on the cluster:
    MinHash signatures of its sources (and `dedup.against`), the near-duplicate band join
    per hash range, the decontamination scan of its sources, and the selection method's
    scores. They land in the workspace under the same keys the in-process curate step
    uses, so curation then reads them instead of computing them in this process."""
    if recipe.dedup.minhash is not None:
        refs = [resolve_docs(ws, s) for s in [*recipe.sources, *recipe.dedup.against]]
        map_signatures(ws, refs, recipe.dedup)  # on this arm flow's task runner: the cluster
    if recipe.dedup.modes():
        # band joins per hash range on the workers; the per-document state stays here
        clusters_on_cluster(ws, [resolve_docs(ws, s) for s in recipe.sources], recipe.dedup, dask_address)
    if recipe.decontamination.enabled:
        map_decontam_scan(ws, [resolve_docs(ws, s) for s in recipe.sources], recipe.decontamination)
    if get_method(recipe.selection.method).scored:
        score_flow.with_options(task_runner=_runtime.dask_task_runner(dask_address))(
            list(recipe.sources), [recipe.selection], str(ws.root)
        )


@task(name="validate-documents", cache_policy=NO_CACHE)
def validate_documents(ws: Workspace, name: str) -> dict[str, Any]:
    """The documents contract on an ingested source, with its record accounting.

    Unparseable URLs only warn: real crawl has pages whose URL is a placeholder (43 in the
    shared WARC) with sound text; they are counted in the validation results."""
    ref = resolve_docs(ws, name)
    contract = V.documents_contract(list(ref.shards), counts=V.ingest_counts(ref.dir))
    return V.validate(
        contract,
        key=f"documents-{ref.source_key}",
        workspace=ws,
        severities={"documents.url_parseable": "warn"},
        catalog=Catalog(ws.catalog_path),
    ).as_dict()


def arm_tokens(arm: str, stats: dict[str, Any], trained: dict[str, Any] | None = None) -> MT.ArmTokens | None:
    """An arm's token accounting from its curate stats (None when it was cut to no budget)."""
    if "unique_tokens" not in stats:
        return None
    return MT.ArmTokens(
        arm, int(stats["unique_tokens"]), int(stats["pool_tokens"]), (trained or {}).get("tokens_trained")
    )


@task(name="validate-matched-tokens", cache_policy=NO_CACHE)
def validate_matched_tokens(
    ws: Workspace, arms: list[MT.ArmTokens], budget: int, key: str, recipe: Recipe | None = None
) -> dict[str, Any]:
    """The matched-token contract (tasks/validation/contracts/matched_tokens.py): every arm's unique
    tokens within 1% of the budget and of each other, equal training tokens."""
    return MT.check_matched_tokens(
        arms,
        budget,
        key=key,
        workspace=ws,
        severities=recipe.validation if recipe else None,
        catalog=Catalog(ws.catalog_path),
    ).as_dict()


@task(name="validate-dataset", cache_policy=NO_CACHE)
def validate_dataset(ws: Workspace, recipe: Recipe, dataset_key: str, real_tokens: bool = False) -> dict[str, Any]:
    """The dataset contract: unique ids from their sources, budget, languages, mixture (in
    the real tokens curate mixed it in), duplicate rate, decontaminated. A failed
    expectation fails the arm (unless the recipe's `validation:` marks it warn). With
    `real_tokens` the budget was checked in real tokens (the matched-token contract), so
    the chars/4 estimate is not."""
    parts = sorted(ws.stage_dir("datasets", dataset_key).glob("part-*.parquet"))
    source_docs = {name: list(resolve_docs(ws, name).shards) for name in recipe.sources}
    extra = {"token_budget": None} if real_tokens else {}
    mixture = V.recipe_mixture_inputs(ws, recipe, ws.stage_dir("datasets", dataset_key))  # tokens, topics
    contract = V.dataset_contract_for_recipe(
        parts,
        recipe,
        source_docs=source_docs,
        eval_index=curate_steps.eval_index(ws, recipe.decontamination),
        mixture=mixture,
        **extra,
    )
    return V.validate(
        contract,
        key=f"dataset-{dataset_key}",
        workspace=ws,
        severities=recipe.validation,
        catalog=Catalog(ws.catalog_path),
    ).as_dict()


@task(name="validate-tokens", cache_policy=NO_CACHE)
def validate_tokens(ws: Workspace, trained: TrainResult, recipe: Recipe) -> dict[str, Any]:
    """The token-shard contract: ids within the vocabulary, EOS-separated documents, and
    the token total the tokenizer recorded."""
    contract = V.token_shards_contract_for_packed(trained.packed_dir(ws, recipe.train.seed))
    return V.validate(
        contract,
        key=f"tokens-{trained.tokens_key}",
        workspace=ws,
        severities=recipe.validation,
        catalog=Catalog(ws.catalog_path),
    ).as_dict()


class ContractsMissing(RuntimeError):
    """An arm reached evaluation without its data contracts recorded in the catalog."""


def contracts_ran(ws: Workspace, keys: list[str]) -> list[dict[str, Any]]:
    """The catalog's `validation_runs` rows for `keys` (one per contract); raises
    ContractsMissing naming the keys with none. An arm whose dataset or token shards were
    never validated must not reach the leaderboard."""
    rows = Catalog(ws.catalog_path).query("validation_runs_for_keys", {"keys": keys})
    missing = sorted(set(keys) - {r["key"] for r in rows})
    if missing:
        raise ContractsMissing(f"no validation_runs row in {ws.catalog_path} for {', '.join(missing)}")
    return rows


def _record_arm(
    ws: Workspace,
    suite: str,
    recipe: Recipe,
    seed: int,
    status: str,
    error: str | None,
    numbers: dict[str, float],
    **keys: Any,
) -> None:
    catalog = Catalog(ws.catalog_path)
    catalog.insert(
        "arm_runs",
        [
            {
                "suite": suite,
                "arm": recipe.name,
                "seed": seed,
                "status": status,
                "error": error,
                "recipe_hash": recipe.content_hash(),
                "recipe": recipe.model_dump_json(),
                "finished_at": _now(),
                **keys,
            }
        ],
        replace=True,
    )
    catalog.execute("delete_arm_metrics", {"suite": suite, "arm": recipe.name, "seed": seed})
    catalog.insert(
        "arm_metrics",
        [{"suite": suite, "arm": recipe.name, "seed": seed, "metric": m, "value": v} for m, v in numbers.items()],
    )


@flow(name="ablation", log_prints=True, validate_parameters=True)
def ablation_flow(
    suite: str = str(DEFAULT_SUITE.relative_to(REPO)),
    arms: list[Recipe] | None = None,
    preset: str | None = None,
    workspace: str | None = None,
    dask_address: str | None = None,
    suite_spec: Suite | None = None,
    max_parallel: int | None = None,
    seeds: list[int] | None = None,
    decide: DecideSpec | None = None,
) -> str:
    """Run every arm of `suite` (a suite YAML path) and publish the leaderboard.

    Arms x seeds run as concurrent subflow runs, at most `max_parallel` at once (default
    `default_max_parallel()`; 1 runs them one after another in this thread).

    `arms`, when given (e.g. a custom recipe typed into the Prefect UI form), replaces the
    suite's arms; they use the suite's sources, budget and model. `suite_spec` (a ladder
    rung) replaces the suite file altogether.
    """
    log = get_run_logger()
    started = time.monotonic()
    spec = _suite_for_run(suite, suite_spec, arms, preset, seeds, decide)
    validate_arms(spec.arms)  # every arm's filters and SQL, before any ingest or signal work
    ws = Workspace.from_env(workspace)
    if spec.sweep:  # the arms the `sweep:` expanded into, before any work
        log.info(
            "suite %s: %d arm(s) after the sweep: %s", spec.name, len(spec.arms), ", ".join(a.name for a in spec.arms)
        )
    _record_suite(ws, spec)
    _prepare_sources(ws, spec, dask_address)
    design = spec.ablation()
    if design is not None:  # what `ablate:` compares, and what each component removes
        record_ablation(ws, spec, design)
    jobs = [(arm, seed) for arm in spec.resolved_arms() for seed in spec.seeds]
    jobs = reuse_identical(ws, spec, design, jobs, dask_address)
    t0 = time.monotonic()
    outcomes = _run_jobs(ws, spec.name, jobs, max_parallel, dask_address)
    note = ""
    if spec.decide is not None:
        first_round_s = time.monotonic() - t0
        more, note = _decide_adaptively(ws, spec, outcomes, started, first_round_s, max_parallel, dask_address)
        outcomes += more
    mismatch = _suite_tokens_mismatch(ws, spec, outcomes)
    board = report_flow(spec.name, "md", str(ws.root), note)
    failed = [(o.run_name, o.traceback) for o in outcomes if o.traceback is not None]
    if failed:
        create_markdown_artifact(
            "\n\n".join(f"### {n}\n```\n{tb}\n```" for n, tb in failed),
            key="ablation-failures",
            description=f"failed arms of {spec.name}",
        )
    if mismatch is not None:
        raise mismatch
    return board


def _suite_for_run(
    suite: str,
    suite_spec: Suite | None,
    arms: list[Recipe] | None,
    preset: str | None,
    seeds: list[int] | None,
    decide: DecideSpec | None,
) -> Suite:
    """The suite file (or `suite_spec`) with the run's overrides: the form's arms, the
    preset, the seeds, the `decide:` rule."""
    spec = suite_spec if suite_spec is not None else _load(suite)
    if arms:  # the form's arms replace the suite's, and with them a generated ablation
        spec = spec.model_copy(update={"arms": arms, "ablate": None})
    if preset:
        spec = spec.model_copy(update={"preset": preset})
    if seeds:  # e.g. a rerun with other seeds: `--seeds 100`
        spec = spec.model_copy(update={"seeds": seeds})
    if decide is not None:
        spec = spec.model_copy(update={"decide": decide})
    return spec


def _record_suite(ws: Workspace, spec: Suite) -> None:
    """What the report ranks by (the suite's declared decision) and the seeds it expects."""
    Catalog(ws.catalog_path).insert(
        "suites",
        [
            {
                "suite": spec.name,
                "decision": spec.decision.model_dump_json(),
                "seeds": spec.seeds,
                "arms": [a.name for a in spec.arms],
            }
        ],
        replace=True,
    )


def _prepare_sources(ws: Workspace, spec: Suite, dask_address: str | None) -> None:
    """Every source an arm reads, computed once: documents (with their contract), then
    quality signals."""
    for name in sorted({s for arm in spec.arms for s in arm.sources}):
        run_ingest(spec.source_uris(name), name=name, workspace=ws.root, dask_address=dask_address)
        validate_documents(ws, name)
        run_signals(name, ws.root, dask_address)


def _suite_tokens_mismatch(ws: Workspace, spec: Suite, outcomes: list[ArmOutcome]) -> MT.TokenBudgetError | None:
    """The matched-token contract across the suite's completed arms (unique tokens within
    1% of each other, equal training tokens): the error when they are not matched, logged;
    the flow raises it after the leaderboard is published."""
    matched: dict[str, MT.ArmTokens] = {}
    for o in outcomes:  # in the suite's order, whatever order the arms finished in
        numbers = o.numbers
        if numbers is not None and "unique_tokens" in numbers and o.arm not in matched:
            matched[o.arm] = MT.ArmTokens(
                o.arm,
                int(numbers["unique_tokens"]),
                int(numbers["pool_tokens"]),
                int(numbers["train_tokens"]) if "train_tokens" in numbers else None,
            )
    if not spec.token_budget or len(matched) < 2:
        return None
    try:
        validate_matched_tokens(ws, list(matched.values()), spec.token_budget, f"matched-suite-{spec.name}")
    except MT.TokenBudgetError as exc:
        get_run_logger().error("suite %s: arms are not token-matched:\n%s", spec.name, exc)
        return exc
    return None


@task(name="attribution-data", cache_policy=NO_CACHE)
def record_ablation(ws: Workspace, spec: Suite, design: AblationDesign) -> dict[str, Any] | None:
    """The `ablate:` design in the catalog with what each component removes from the pool
    and the slices of every rule (tasks/attribution/removals.py). A failure here is logged
    and leaves the removals empty: the arms still run and the effects are still reported."""
    full = {a.name: a for a in spec.resolved_arms()}[design.full]
    removals = None
    try:
        topics = TopicsSpec.model_validate(design.topics) if design.topics else None
        removals = data_side(ws, full, [c.component for c in design.components], topics).as_dict()
    except Exception as exc:
        get_run_logger().error("suite %s: removals of %s's components: %s", spec.name, design.full, exc)
    Catalog(ws.catalog_path).insert(
        "ablations",
        [
            {
                "suite": spec.name,
                "design": json.dumps(design.as_dict()),
                "removals": None if removals is None else json.dumps(removals),
            }
        ],
        replace=True,
    )
    return removals


def reuse_identical(
    ws: Workspace,
    spec: Suite,
    design: AblationDesign | None,
    jobs: list[tuple[Recipe, int]],
    dask_address: str | None = None,
) -> list[tuple[Recipe, int]]:
    """Generated arms whose dataset trains exactly like their reference's run with the
    reference's data (tasks/attribution/reuse.py): its dataset, tokens, model and scores,
    all from cache. Both are curated here (the arm would curate anyway); a curation that
    fails leaves the job as it was, to fail in its own arm run."""
    if design is None:
        return jobs
    refs = design.references()
    arms = {a.name: a for a in spec.resolved_arms()}
    resolved: dict[tuple[str, int], Recipe] = {}
    log = get_run_logger()

    def data_of(arm: Recipe, seed: int) -> Recipe:
        key = (arm.name, seed)
        if key not in resolved:
            resolved[key] = arm
            ref = arms.get(refs.get(arm.name, ""))
            if ref is not None:
                ref = data_of(ref, seed)  # a reference may itself reuse its own reference
                try:
                    refs_of_pair = []
                    for recipe in (arm_for_seed(arm, seed), arm_for_seed(ref, seed)):
                        if dask_address:  # the heavy per-shard stages on the cluster, as the arm would
                            curate_on_cluster(ws, recipe, dask_address)
                        refs_of_pair.append(run_curate(recipe, ws.root, dask_address))
                    mine, theirs = refs_of_pair
                    if mine.key == theirs.key or reuse.same_training_data(mine.path, theirs.path):
                        log.info("arm %s-seed%d: its dataset is %s's; reusing that run", arm.name, seed, ref.name)
                        resolved[key] = reuse.reusing(arm, ref)
                except Exception as exc:
                    log.warning("arm %s-seed%d: not compared with %s (%s)", arm.name, seed, ref.name, exc)
        return resolved[key]

    return [(data_of(arm, seed) if arm.name in arms else arm, seed) for arm, seed in jobs]


def _width(max_parallel: int | None, n_jobs: int) -> int:
    """Arm runs at once: `max_parallel` (default: half the cores), never more than the jobs."""
    return max(1, min(max_parallel or default_max_parallel(), n_jobs or 1))


def _run_jobs(
    ws: Workspace, suite: str, jobs: list[tuple[Recipe, int]], max_parallel: int | None, dask_address: str | None
) -> list[ArmOutcome]:
    """Arm x seed runs as subflow runs, at most `max_parallel` at once (1: one after another)."""
    width = _width(max_parallel, len(jobs))
    if width == 1:  # the serial loop: every arm in this thread, one after another
        return [_run_arm(ws, suite, arm, seed, dask_address) for arm, seed in jobs]
    get_run_logger().info("suite %s: %d arm runs, at most %d at once", suite, len(jobs), width)
    with ThreadPoolExecutor(width, thread_name_prefix="arm") as pool:
        # Each thread runs its arm in a copy of this context, so the arm is a subflow
        # of this flow run (Prefect's run context is a context variable).
        futures = [
            pool.submit(contextvars.copy_context().run, _run_arm, ws, suite, arm, seed, dask_address)
            for arm, seed in jobs
        ]
        return [f.result() for f in futures]


def _decide_adaptively(
    ws: Workspace,
    spec: Suite,
    outcomes: list[ArmOutcome],
    started: float,
    first_round_s: float,
    max_parallel: int | None,
    dask_address: str | None,
) -> tuple[list[ArmOutcome], str]:
    """`decide:` rounds (tasks/report/adaptive.py): one more seed for every arm still
    plausibly the best, until decided, the seed cap or the time budget. Returns the added
    runs and why it stopped (for the verdict)."""
    from flows.report import build

    assert spec.decide is not None
    rule = adaptive.Rule(spec.decide.p, spec.decide.max_seeds, spec.decide.budget_minutes)
    arms = {a.name: a for a in spec.resolved_arms()}
    added: list[ArmOutcome] = []

    def run_round(jobs: list[tuple[str, int]]) -> list[bool]:
        get_run_logger().info(
            "suite %s: not decided yet; one more seed for %s", spec.name, ", ".join(f"{a}-seed{s}" for a, s in jobs)
        )
        todo = reuse_identical(ws, spec, spec.ablation(), [(arms[a], s) for a, s in jobs], dask_address)
        new = _run_jobs(ws, spec.name, todo, max_parallel, dask_address)
        added.extend(new)
        return [o.traceback is None for o in new]

    width = _width(max_parallel, len(outcomes))
    rounds = adaptive.add_seeds(
        lambda: build(Catalog(ws.catalog_path), spec.name, p_target=rule.p).verdict,
        run_round,
        [(o.arm, o.seed) for o in outcomes],
        rule,
        started,
        first_round_s,
        len(outcomes),
        width,
    )
    return added, rounds.reason


def _load(suite: str | Path) -> Suite:
    path = Path(suite)
    if not path.is_absolute() and not path.exists():
        path = REPO / path
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
        if "arms" in data or "sweep" in data or "ablate" in data:
            return load_suite(path)
        # A single recipe: run it as a one-arm suite over the default suite's sources.
        return suite_from_recipe(path, load_suite(DEFAULT_SUITE).sources)
    raise SystemExit(f"{suite}: not a suite or recipe YAML file")


def _decide_for(suite: str, cli: dict[str, Any] | None) -> DecideSpec | None:
    """The CLI's --decide options over the suite's own `decide:` (None: the suite's as is)."""
    if cli is None:
        return None
    base = _load(suite).decide or DecideSpec()
    return base.model_copy(update=cli)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.ablation", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE_OR_RECIPE",
        help="suite YAML files (with `arms:`) or single recipe YAML files (default: recipes/suites/default.yaml)",
    )
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="proxy model size for every arm (default: the suite's, nano)",
    )
    parser.add_argument(
        "--dask-address", help="scheduler address of an existing Dask cluster (default: a local cluster)"
    )
    parser.add_argument("--workspace", help="workspace root (default $WINNOW_HOME or ./.winnow)")
    parser.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help=f"arm x seed runs at once (default: half the cores, 1 to 4; here {default_max_parallel()}); "
        "1 runs them one after another",
    )
    parser.add_argument(
        "--seeds",
        metavar="S,S,...",
        help="the seeds every arm runs first (default: the suite's `seeds`), e.g. 100 for a rerun with other seeds",
    )
    parser.add_argument(
        "--decide",
        action="store_true",
        help="add seeds to the arms still plausibly best until decided (the suite's `decide:`, or its defaults)",
    )
    parser.add_argument("--max-seeds", type=int, metavar="N", help="with --decide: seeds per arm at most")
    parser.add_argument("--budget-minutes", type=float, metavar="M", help="with --decide: wall-time budget of the run")
    parser.add_argument(
        "--force",
        action="append",
        choices=STAGES,
        default=[],
        metavar="STAGE",
        help=f"recompute STAGE even if cached (repeatable): {', '.join(STAGES)}",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show every library progress bar and info log (default: one bar per stage, warnings and errors)",
    )
    args = parser.parse_args(argv)
    if args.max_parallel is not None and args.max_parallel < 1:
        parser.error(f"--max-parallel must be at least 1, not {args.max_parallel}")
    if args.verbose:  # else $WINNOW_VERBOSE decides
        set_verbose(True)
    if args.workspace:
        os.environ["WINNOW_HOME"] = str(Path(args.workspace).resolve())
    for stage in args.force:
        print(f"--force {stage}: removed {Workspace.from_env(args.workspace).force(stage)} cached output(s)")
    suites = args.suites or [str(DEFAULT_SUITE)]
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()] if args.seeds else None
    for suite in suites:
        _load(suite)  # validate every suite and recipe before any work runs
    decide = None
    if args.decide or args.max_seeds or args.budget_minutes:
        update = {"max_seeds": args.max_seeds, "budget_minutes": args.budget_minutes}
        decide = {k: v for k, v in update.items() if v is not None}
    try:
        with _runtime.prefect_api(), _runtime.dask_cluster(args.dask_address) as address:
            for suite in suites:
                print(
                    ablation_flow(
                        suite,
                        preset=args.preset,
                        workspace=args.workspace,
                        dask_address=address,
                        max_parallel=args.max_parallel,
                        seeds=seeds,
                        decide=_decide_for(suite, decide),
                    )
                )
    except Exception as exc:  # a failed arm does not get here: the suite records it and goes on
        if verbose():
            raise
        print(f"error: {type(exc).__name__}: {exc} (--verbose for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
