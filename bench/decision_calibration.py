"""Do winnow's 95% intervals hold 95%? Coverage of the decision's intervals on real runs.

    PYTHONPATH=$PWD python bench/decision_calibration.py run --workspace W [--seeds 8] [--arms a,b,c]
    PYTHONPATH=$PWD python bench/decision_calibration.py report --workspace W [--out docs/decision_calibration.json]

`run` trains the chosen arms of the default suite (same pool, budget, nano proxy, eval and
snapshots as `make demo`) at seeds 0..N-1 as one suite, `calibration`, through
`flows.ablation` (every run cached and tracked). `report` then takes, for every pair of
arms, the mean difference over all N seeds as the reference, and for k = 1, 2, 3 seeds
every k-subset of the seeds (the same seeds for every arm) as one "small suite". For each
small suite it computes the 95% interval of each pair's difference as the leaderboard
would (tasks/report/decide.py) and counts how often it holds the reference, in three ways:

  items only                the paired bootstrap over eval items alone (the peer: what
                            winnow printed before, and what an eval harness's stderr gives)
  + seeds                   training noise from seeds only (no snapshots)
  + seeds + checkpoints     training noise from seeds and the checkpoint prior (the default)

With one seed and no snapshots there is no training-noise estimate: the leaderboard says
"undecided" and the interval falls back to items only. The script also prints the
measured ratio of seed variance to checkpoint variance (what `CKPT_INFLATION` assumes),
estimated on the first half of the seeds and on all of them, and how often a pair
"decided" at P >= 0.95 in one k-seed suite is reversed against the reference.

The reference is itself a mean of N seeds, and k-subsets overlap it, so coverage against
it is slightly optimistic for large k/N; N >= 8 keeps that small at k <= 3.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUITE = "calibration"
DEFAULT_ARMS = "heuristic,random,dsir"


def write_suite(arms: list[str], seeds: int, path: Path) -> Path:
    """The default suite restricted to `arms`, at seeds 0..seeds-1, named `calibration`."""
    data = yaml.safe_load((ROOT / "recipes/suites/default.yaml").read_text())
    data["name"] = SUITE
    data["arms"] = [a for a in data["arms"] if a["name"] in arms]
    missing = set(arms) - {a["name"] for a in data["arms"]}
    if missing:
        raise SystemExit(f"arms not in the default suite: {sorted(missing)}")
    data["seeds"] = list(range(seeds))
    data.pop("decide", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(args) -> None:
    os.environ["WINNOW_HOME"] = str(Path(args.workspace).resolve())
    from flows.ablation import main

    with tempfile.TemporaryDirectory() as tmp:
        suite = write_suite(args.arms.split(","), args.seeds, Path(tmp) / "calibration.yaml")
        t0 = time.time()
        main([str(suite), "--workspace", args.workspace, "--max-parallel", "1"])
        print(f"ran {args.seeds} seeds of {args.arms} in {(time.time() - t0) / 60:.1f} min")


def _subset_tables(items, snaps, arms, seeds, family, tasks):
    """TaskScores and run tables restricted to `seeds`."""
    from tasks.report import decide as D
    from tasks.report.stats import task_arrays

    it = [r for r in items if int(r["seed"]) in seeds]
    sn = [r for r in snaps if int(r["seed"]) in seeds]
    ts = [task_arrays([r for r in it if r["task"] == t], family, t, arms, seeds) for t in tasks]
    return [t for t in ts if t is not None], D.run_table(it, sn, family, tasks, arms, seeds)


def report(args) -> dict:
    from tasks.core.catalog import Catalog
    from tasks.core.workspace import Workspace
    from tasks.report import decide as D
    from tasks.report.stats import bootstrap
    from tasks.suite import load_suite

    ws = Workspace.from_env(args.workspace)
    catalog = Catalog(ws.catalog_path)
    items = catalog.query("suite_items", {"suite": SUITE})
    snaps = catalog.query("suite_snapshot_items", {"suite": SUITE})
    decision = load_suite(ROOT / "recipes/suites/default.yaml").decision
    family, tasks, hib = decision.metric, decision.tasks(), decision.higher_is_better
    arms = sorted({r["arm"] for r in items})
    seeds = sorted({int(r["seed"]) for r in items})
    n = len(seeds)
    _, full = _subset_tables(items, snaps, arms, seeds, family, tasks)
    _, final_only = _subset_tables(items, [], arms, seeds, family, tasks)
    ref = {"ckpt": np.nanmean(full.value, axis=1), "final": np.nanmean(final_only.value, axis=1)}
    pairs = list(itertools.combinations(range(len(arms)), 2))

    # What CKPT_INFLATION assumes: seed variance of a run value over mean checkpoint variance.
    def ratio(rt):
        tn = D.training_noise(rt)
        return tn.seed_var / tn.ckpt_var if tn.ckpt_var else float("nan")

    half = seeds[: max(2, n // 2)]
    ratio_half = ratio(_subset_tables(items, snaps, arms, half, family, tasks)[1])
    ratio_all = ratio(full)

    rows = []
    for k in (1, 2, 3):
        subsets = list(itertools.combinations(seeds, k))
        counts = {m: [0, 0] for m in ("items", "seeds", "seeds+ckpt", "items_rerun", "rerun")}
        reversed_calls = {m: [0, 0] for m in ("items", "seeds", "seeds+ckpt", "rerun")}
        for b, sub in enumerate(subsets):
            sub = list(sub)
            ts, rt_ck = _subset_tables(items, snaps, arms, sub, family, tasks)
            _, rt_fin = _subset_tables(items, [], arms, sub, family, tasks)
            # a rerun: the mean of the seeds this small suite did not use
            rest = [c for c, s in enumerate(seeds) if s not in sub]
            rerun = np.nanmean(full.value[:, rest], axis=1)
            rerun_final = np.nanmean(final_only.value[:, rest], axis=1)
            modes = {
                "seeds": (rt_fin, ref["final"]),
                "seeds+ckpt": (rt_ck, ref["ckpt"]),
                "rerun": (rt_ck, rerun),
            }
            boot = bootstrap(ts, 1000, b, resample_seeds=False)
            for i, j in pairs:
                d = boot.replicates[:, i] - boot.replicates[:, j]
                lo, hi = np.quantile(d, [0.025, 0.975])
                truth = ref["final"][i] - ref["final"][j]
                counts["items"][0] += lo <= truth <= hi
                counts["items"][1] += 1
                again = rerun_final[i] - rerun_final[j]
                counts["items_rerun"][0] += lo <= again <= hi
                counts["items_rerun"][1] += 1
                p_i = float((d > 0).mean()) if hib else float((d < 0).mean())  # P(arm i better)
                if p_i >= 0.95 or p_i <= 0.05:
                    i_better = (truth > 0) if hib else (truth < 0)
                    reversed_calls["items"][1] += 1
                    reversed_calls["items"][0] += i_better != (p_i >= 0.95)
            decs = {}
            for mode, (rt, reference) in modes.items():
                key = id(rt)
                dec = decs.get(key) or D.decide(decision.name, ts, arms, hib, rt, n_rep=1000, seed=b)
                decs[key] = dec
                for i, j in pairs:
                    truth = reference[i] - reference[j]
                    _, lo, hi = dec.diff_interval(arms[i], arms[j])
                    counts[mode][0] += lo <= truth <= hi
                    counts[mode][1] += 1
                    if dec.noise.known:
                        pij = dec.p_better[i][j]
                        if pij >= 0.95 or pij <= 0.05:
                            reversed_calls[mode][1] += 1
                            i_better = (truth > 0) if hib else (truth < 0)
                            reversed_calls[mode][0] += i_better != (pij >= 0.95)
        rows.append(
            {
                "seeds": k,
                "small_suites": len(subsets),
                **{f"coverage_{m}": float(c[0] / c[1]) for m, c in counts.items()},
                **{f"calls_{m}": int(c[1]) for m, c in reversed_calls.items()},
                **{f"reversed_{m}": int(c[0]) for m, c in reversed_calls.items()},
            }
        )
    out = {
        "suite": SUITE,
        "arms": arms,
        "seeds": seeds,
        "metric": decision.name,
        "reference_means_checkpoint_avg": dict(zip(arms, ref["ckpt"].tolist())),
        "reference_means_final": dict(zip(arms, ref["final"].tolist())),
        "seed_sd": float(np.sqrt(D.training_noise(final_only).seed_var)),
        "seed_sd_checkpoint_avg": float(np.sqrt(D.training_noise(full).seed_var)),
        "checkpoint_sd": float(np.sqrt(D.training_noise(full).ckpt_var)),
        "seed_over_checkpoint_variance": {"first_half": ratio_half, "all": ratio_all},
        "ckpt_inflation_assumed": D.CKPT_INFLATION,
        "rows": rows,
    }
    print(f"suite {SUITE}: arms {', '.join(arms)}; {n} seeds; metric {decision.name}")
    print(
        f"seed sd {out['seed_sd']:.4f} (final), {out['seed_sd_checkpoint_avg']:.4f} (checkpoint-averaged); "
        f"checkpoint sd {out['checkpoint_sd']:.4f}; seed/checkpoint variance {ratio_half:.1f} (first half), "
        f"{ratio_all:.1f} (all); assumed {D.CKPT_INFLATION:g}"
    )
    print("Coverage of the 95% interval of each pair's difference: against the all-seed mean | against a rerun")
    print("(the mean of the seeds the small suite did not use)")
    print("| seeds | small suites | items only | + seeds | + seeds + checkpoints | items only, rerun | winnow, rerun |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['seeds']} | {r['small_suites']} | {r['coverage_items']:.3f} | {r['coverage_seeds']:.3f} | "
            f"{r['coverage_seeds+ckpt']:.3f} | {r['coverage_items_rerun']:.3f} | {r['coverage_rerun']:.3f} |"
        )
    print("| seeds | calls at P>=0.95 reversed: items only | + seeds | + seeds + checkpoints | winnow vs a rerun |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['seeds']} | {r['reversed_items']}/{r['calls_items']} | {r['reversed_seeds']}/{r['calls_seeds']} | "
            f"{r['reversed_seeds+ckpt']}/{r['calls_seeds+ckpt']} | {r['reversed_rerun']}/{r['calls_rerun']} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train the arms at N seeds")
    r.add_argument("--workspace", required=True)
    r.add_argument("--seeds", type=int, default=8)
    r.add_argument("--arms", default=DEFAULT_ARMS)
    p = sub.add_parser("report", help="coverage of 1-, 2- and 3-seed intervals")
    p.add_argument("--workspace", required=True)
    p.add_argument("--out")
    args = parser.parse_args(argv)
    run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    main()
