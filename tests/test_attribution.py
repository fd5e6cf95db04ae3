"""Attribution (issue 25, docs/attribution.md) with known answers: the arms `ablate:`
generates, each component's effect from the decision machinery (a planted harmful
component, an inert one), what each component removes, and the slices that name the
domain a planted rule removes. The end-to-end run is tests/test_attribution_e2e.py."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from pydantic import ValidationError

from tasks.attribution import effects as AE
from tasks.attribution import reuse
from tasks.attribution.design import AblationDesign, ComponentArm
from tasks.attribution.removals import DataSide, Removal, data_side, rule_slices
from tasks.core.hashing import hash_json
from tasks.core.spec import RecipeError
from tasks.recipe import Recipe
from tasks.report import decide as D
from tasks.report.stats import TaskScores
from tasks.suite import Suite
from tests.conftest import CRAWL

SOURCES = {"crawl": ["x"], "wiki": ["y"]}
HDF = {
    "name": "hdf",
    "sources": ["crawl", "wiki"],
    "language": {"allowed": ["en"]},
    "filters": ["gopher_repetition", "fineweb", {"name": "no_wiki", "sql": "source <> 'wiki'"}],
    "dedup": {"exact": True, "minhash": True},
    "selection": {"method": "fasttext"},
}


def suite(ablate: dict, **kw) -> Suite:
    return Suite.model_validate(
        {"name": "s", "sources": SOURCES, "token_budget": 1000, "arms": [HDF], "ablate": ablate, **kw}
    )


# ---------------------------------------------------------------- the generated arms


def test_leave_one_out_arms_are_the_recipe_without_each_component():
    s = suite({"recipe": "hdf", "over": ["filters", "dedup", "selection", "fineweb.line_punct_ratio"]})
    arms = {a.name: a for a in s.arms}
    assert list(arms) == [
        "hdf",
        "hdf-gopher_repetition",
        "hdf-fineweb",
        "hdf-no_wiki",
        "hdf-fineweb.line_punct_ratio",
        "hdf-dedup.exact",
        "hdf-dedup.minhash",
        "hdf-selection",
    ]
    filters = {n: [f.name for f in a.filters] for n, a in arms.items()}
    assert filters["hdf-gopher_repetition"] == ["fineweb", "no_wiki"]
    assert filters["hdf-no_wiki"] == ["gopher_repetition", "fineweb"]
    assert arms["hdf-fineweb.line_punct_ratio"].filters[1].skip == ["line_punct_ratio"]
    assert arms["hdf-dedup.minhash"].dedup.modes() == ["exact"]
    assert arms["hdf-selection"].selection.method == "none" and arms["hdf"].selection.method == "fasttext"
    design = s.ablation()
    assert design is not None and design.full == "hdf" and design.mode == "leave_one_out"
    assert {c.reference for c in design.components} == {"hdf"}
    steps = {c.component: c.step for c in design.components}
    assert steps["no_wiki"] == "sql.no_wiki" and steps["dedup.minhash"] == "dedup.minhash"
    # every arm is token-matched by the suite like any hand-written one
    assert {a.token_budget for a in s.resolved_arms()} == {1000}


def test_add_one_arms_put_each_component_back_into_the_baseline_alone():
    s = suite({"recipe": "hdf", "over": ["fineweb.line_punct_ratio", "dedup"], "mode": "add_one"})
    arms = {a.name: a for a in s.arms}
    base = arms["hdf.base"]
    assert base.filters[1].skip == ["line_punct_ratio"] and base.dedup.modes() == []
    assert arms["hdf.base+dedup.exact"].dedup.modes() == ["exact"]
    one = arms["hdf.base+fineweb.line_punct_ratio"]
    assert one.filters[1].skip == [] and one.dedup.modes() == []  # the rule back, the rest of the recipe as is
    design = s.ablation()
    assert design is not None and design.baseline == "hdf.base"
    assert {c.reference for c in design.components} == {"hdf.base"}
    assert design.references()["hdf.base"] == "hdf"
    # a rule alone: its family with every other rule skipped
    rules = suite({"recipe": "hdf", "over": ["rules"], "mode": "add_one"})
    alone = {a.name: a for a in rules.arms}["hdf.base+fineweb.list_ratio"]
    assert [f.name for f in alone.filters] == ["fineweb"]
    assert "list_ratio" not in alone.filters[0].skip and len(alone.filters[0].skip) == 4


def test_bad_ablations_are_refused_naming_the_field():
    with pytest.raises(ValidationError, match="neither a kind .* nor a component.*components: gopher_repetition"):
        suite({"recipe": "hdf", "over": ["gopher_repitition"]})
    with pytest.raises(ValidationError, match="neither an arm of the suite nor a recipe"):
        suite({"recipe": "no_such_recipe"})
    with pytest.raises(ValidationError, match="no selection to ablate"):
        Suite.model_validate(
            {
                "name": "s",
                "sources": SOURCES,
                "arms": [{**HDF, "selection": {}}],
                "ablate": {"recipe": "hdf", "over": ["selection"]},
            }
        )


def test_round_trip_through_json_does_not_duplicate_arms():
    s = suite({"recipe": "hdf", "over": ["dedup"]})
    again = Suite.model_validate_json(s.model_dump_json())
    assert [a.name for a in again.arms] == ["hdf", "hdf-dedup.exact", "hdf-dedup.minhash"]
    clash = s.model_dump()
    clash["arms"][1]["token_budget"] = 5
    with pytest.raises(ValidationError, match="hdf-dedup.exact.*other content"):
        Suite.model_validate(clash)


def test_skip_switches_one_rule_off_and_recipes_without_it_keep_their_hashes():
    from tasks.signals.filters import resolve_rules

    r = Recipe(name="r", sources=["crawl"], filters=[{"name": "fineweb", "skip": ["list_ratio"]}])
    assert [x.name for x in resolve_rules(r.filters)] == [
        "empty",
        "line_punct_ratio",
        "short_line_ratio",
        "char_dup_ratio",
    ]
    with pytest.raises((RecipeError, ValidationError), match="unknown rule"):
        Recipe(name="r", sources=["crawl"], filters=[{"name": "fineweb", "skip": ["no_such_rule"]}])
    # a recipe without `skip` hashes as it did before the field existed (cached datasets stay valid)
    plain = Recipe(name="r", sources=["crawl"], filters=["fineweb"])
    old = plain.model_dump(include={"sources", "language", "filters", "dedup", "selection", "mixture"})
    old |= {"token_budget": None, "decontamination": plain.decontamination.model_dump()}
    old["mixture"].pop("topics")
    old["mixture"].pop("online")  # added later too (training, not data: never in the data hash)
    old["dedup"].pop("substring")  # a dedup mode added later: out of the hashes while off
    old["filters"][0].pop("skip")
    assert plain.data_hash() == hash_json(old)
    assert plain.data_hash() != r.data_hash()


# ---------------------------------------------------------------- effects, through decide.py


def _simulated(true_bpb: dict[str, float], twins: dict[str, str], seeds=(0, 1), seed=3):
    """Per-item held-out scores and snapshot values of arms with known bits per byte; an
    arm in `twins` is the same runs as its twin (it reused its dataset and model)."""
    rng = np.random.default_rng(seed)
    n_items, n_ckpt = 200, 4
    difficulty = rng.normal(0, 0.3, n_items)
    arms = list(true_bpb)
    values = np.empty((len(arms), len(seeds), n_items))
    run_value = np.full((len(arms), len(seeds)), np.nan)
    ckpt_var = np.full_like(run_value, np.nan)
    for a, arm in enumerate(arms):
        if arm in twins:
            continue
        for s in range(len(seeds)):
            u = true_bpb[arm] + rng.normal(0, 0.03)
            snaps = u + rng.normal(0, 0.03 / np.sqrt(D.CKPT_INFLATION), n_ckpt)
            values[a, s] = snaps[-1] + difficulty + rng.normal(0, 0.05, n_items)
            run_value[a, s], ckpt_var[a, s] = snaps.mean(), snaps.var(ddof=1)
    for arm, twin in twins.items():
        a, b = arms.index(arm), arms.index(twin)
        values[a], run_value[a], ckpt_var[a] = values[b], run_value[b], ckpt_var[b]
    runs = D.RunTable(arms, list(seeds), run_value, ckpt_var, np.full_like(run_value, n_ckpt))
    dec = D.decide("bpb/wiki_leads_heldout", [TaskScores(values)], arms, False, runs)
    rows = [
        {"arm": arm, "seed": s, "status": "completed", "dataset_key": f"data-{twins.get(arm, arm)}-{s}"}
        for arm in arms
        for s in seeds
    ]
    return dec, rows


def _design(components: list[str], mode="leave_one_out", reference="full") -> AblationDesign:
    arms = [ComponentArm(c, "filter", f"full-{c}", reference, f"sql.{c}") for c in components]
    return AblationDesign("full", mode, arms)


def test_a_planted_harmful_component_has_a_negative_effect_separated_from_zero():
    """A rule that removes what the decision rewards (say, every Wikipedia lead when the
    decision is held-out Wikipedia): without it bits per byte drop by 0.1. A harmless one
    changes nothing."""
    dec, rows = _simulated({"full": 1.10, "full-no_wiki": 1.00, "full-harmless": 1.10}, {})
    a = AE.effects(dec, _design(["no_wiki", "harmless"]), rows, "s")
    e = {x.component: x for x in a.effects}
    harmful = e["no_wiki"]
    assert harmful.effect == pytest.approx(-0.10, abs=0.05)
    assert harmful.hi is not None and harmful.hi < 0, (harmful.lo, harmful.hi)
    assert harmful.p_positive is not None and harmful.p_positive < 0.01
    assert harmful.verdict == "hurts"
    harmless = e["harmless"]
    assert harmless.lo is not None and harmless.hi is not None and harmless.lo < 0 < harmless.hi
    assert harmless.verdict == "not separated"
    # the decision's own interval (training noise included): for bits per byte, the effect
    # of a component is bpb without it - bpb with it
    lo, hi = dec.diff_interval("full-no_wiki", "full")[1:]
    assert (harmful.lo, harmful.hi) == pytest.approx((lo, hi), abs=1e-9)


def test_add_one_effect_of_a_helpful_component_is_positive():
    dec, rows = _simulated({"full.base": 1.20, "full.base+wiki_only": 1.05}, {})
    design = AblationDesign(
        "full", "add_one", [ComponentArm("wiki_only", "filter", "full.base+wiki_only", "full.base", "x")], "full.base"
    )
    (e,) = AE.effects(dec, design, rows, "s").effects
    assert e.effect == pytest.approx(0.15, abs=0.05) and e.lo is not None and e.lo > 0 and e.verdict == "helps"


def test_an_inert_component_that_reused_the_full_run_has_an_effect_of_exactly_zero():
    dec, rows = _simulated({"full": 1.10, "full-inert": 1.10, "full-other": 1.12}, {"full-inert": "full"})
    a = AE.effects(dec, _design(["inert", "other"]), rows, "s")
    inert = next(x for x in a.effects if x.component == "inert")
    assert (inert.effect, inert.lo, inert.hi) == (0.0, 0.0, 0.0)
    assert inert.verdict == AE.IDENTICAL and inert.p_positive is None
    # its replicates alone would give an interval around zero, not zero
    d = dec.replicates("full") - dec.replicates("full-inert")
    assert np.quantile(d, 0.975) > 0.01
    assert "0 (exactly)" in AE.to_markdown(a)


def test_without_training_noise_no_component_is_called():
    dec, rows = _simulated({"full": 1.10, "full-no_wiki": 0.90}, {}, seeds=(0,))
    runs = D.RunTable(dec.arms, [0], np.array([[1.1], [0.9]]), np.full((2, 1), np.nan), np.zeros((2, 1)))
    items = TaskScores(np.random.default_rng(0).normal(1.0, 0.1, (2, 1, 50)) + np.array([0.1, -0.1])[:, None, None])
    dec = D.decide("bpb/x", [items], dec.arms, False, runs)
    (e,) = AE.effects(dec, _design(["no_wiki"]), rows, "s").effects
    assert e.verdict == "training noise unknown"


def test_markdown_json_plot_and_page_section(tmp_path):
    from tasks.report.html import Section

    dec, rows = _simulated({"full": 1.10, "full-no_wiki": 1.00, "full-inert": 1.10}, {"full-inert": "full"})
    data = DataSide(
        900,
        400_000,
        "tokens",
        1200,
        [Removal("no_wiki", "filter", 300, 40_000, 290, 39_000), Removal("inert", "filter", 0, 0, 0, 0)],
        [],
    )
    a = AE.effects(dec, _design(["no_wiki", "inert"]), rows, "s", data)
    md = AE.to_markdown(a)
    row = next(line for line in md.splitlines() if line.startswith("| no_wiki"))
    assert "hurts" in row and "300" in row and "290 / 39,000" in row
    assert "python -m flows.inspect full --suite s --step sql.no_wiki" in row and "(#excl-full)" in row
    assert md.index("| inert") < md.index("| no_wiki")  # sorted: most helpful first
    table = json.loads(AE.to_json(a))["table"]
    assert [r["component"] for r in table] == ["inert", "no_wiki"] and table[1]["tokens_removed"] == 40_000
    png = AE.plot(a, tmp_path / "attribution.png")
    assert png is not None and png.stat().st_size > 5000
    html = Section("Attribution", md, [png]).html()
    assert "<h2>Attribution</h2>" in html and "data:image/png;base64," in html and "<table>" in html


# ---------------------------------------------------------------- slices on constructed groups


def test_rule_slices_name_the_groups_removed_above_the_average_share():
    domain = np.array(["a.com"] * 10 + ["b.org"] * 10 + ["c.net"] * 80)
    fails = np.zeros(100, bool)
    fails[:10] = True  # all of a.com
    fails[20:25] = True  # 5 of c.net's 80
    (rs,) = rule_slices({"r": fails}, {"domain": domain})
    assert (rs.removed, rs.documents) == (15, 100)
    (top, *rest) = rs.slices
    assert (top.group, top.removed, top.documents) == ("a.com", 10, 10)
    assert top.lift == pytest.approx(1 / 0.15)
    assert all(s.group != "b.org" for s in rs.slices)  # nothing removed there
    assert all(s.share > rs.share for s in rs.slices)  # c.net (5/80) is below the average: not named


# ---------------------------------------------------------------- on real documents


def _cc_rows() -> list[dict]:
    """The 697 real CC-MAIN-2019-30 documents with their crawl URLs (hosts), language unset
    (lid.176 labels them when signals are computed)."""
    rows = []
    path = CRAWL / "CC-MAIN-2019-30-sample.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            text = r["text"]
            rows.append(
                dict(
                    doc_id=xxhash.xxh3_128_hexdigest(f"cc\x00{r['id']}".encode()),
                    source="crawl",
                    url=r["metadata"]["warc_url"],
                    domain=None,
                    text=text,
                    language=None,
                    language_score=None,
                    crawl_date=None,
                    content_type="text/plain",
                    encoding="utf-8",
                    n_bytes=len(text.encode()),
                    n_chars=len(text),
                    text_truncated=False,
                    source_file=str(path),
                    record_id=str(r["id"]),
                    record_offset=i,
                    format="jsonl",
                    extractor="none",
                )
            )
    return rows


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """Real documents in a workspace of their own, with signals: the CC sample as `crawl`
    (11 pages of developers.google.com among them) plus two verbatim copies of one page,
    and 200 Wikipedia leads as `wiki` (no URL)."""
    from tasks.core.docsref import resolve_docs
    from tasks.core.reference import wiki_leads
    from tasks.core.schema import DOCS
    from tasks.core.workspace import Workspace
    from tasks.signals.signals import build_signals
    from tests._docs_workspace import write_docs

    ws = Workspace.from_env(tmp_path_factory.mktemp("attribution") / "ws")
    rows = _cc_rows()
    page = max(rows, key=lambda r: r["n_chars"] if r["n_chars"] < 20_000 else 0)
    rows += [dict(page, doc_id=f"copy-{i}", record_id=f"copy-{i}") for i in range(2)]
    leads = wiki_leads("train").slice(0, 200).to_pylist()
    wiki = [
        dict(
            rows[0], doc_id=f"wiki-{i:04d}", source="wiki", url=None, text=r["text"], language="en", language_score=0.99
        )
        | {"n_chars": len(r["text"]), "n_bytes": len(r["text"].encode()), "record_id": r["title"], "record_offset": i}
        for i, r in enumerate(leads)
    ]
    write_docs(ws, "crawl", pa.Table.from_pylist(rows, schema=DOCS))
    write_docs(ws, "wiki", pa.Table.from_pylist(wiki, schema=DOCS))
    for name in ("crawl", "wiki"):
        build_signals(ws, resolve_docs(ws, name))
    return ws


GOOGLE = "developers.google.com"
PLANTED = Recipe(
    name="full",
    sources=["crawl", "wiki"],
    filters=[
        "fineweb",
        # NULL counts as failing: documents without a URL (the leads) must pass
        {"name": "no_google", "sql": f"coalesce(domain, '') <> '{GOOGLE}'"},
        {"name": "inert", "sql": "n_chars >= 0"},
    ],
    dedup={"exact": True},
)


def test_removals_overlap_and_an_inert_rule_on_real_documents(pool):
    comps = ["fineweb", "fineweb.line_punct_ratio", "no_google", "inert", "dedup.exact"]
    data = data_side(pool, PLANTED, comps)
    r = {x.component: x for x in data.removals}
    assert data.pool_documents == data.candidates == 697 + 2 + 200  # no language step here
    assert (r["inert"].documents, r["inert"].tokens, r["inert"].only_documents) == (0, 0, 0)
    assert r["no_google"].documents == 11 and r["no_google"].tokens > 0
    assert r["dedup.exact"].documents >= 2  # the planted copies (a copy or the page itself goes)
    # a rule inside its family: what only it removes does not count its own family against it
    assert 0 < r["fineweb.line_punct_ratio"].only_documents <= r["fineweb.line_punct_ratio"].documents
    assert r["fineweb"].only_documents <= r["fineweb"].documents
    assert r["fineweb"].documents >= r["fineweb.line_punct_ratio"].documents
    back = DataSide.from_dict(json.loads(json.dumps(data.as_dict())))
    assert back.removal("no_google") == r["no_google"]


def test_slices_name_the_domain_a_planted_rule_removes(pool):
    data = data_side(pool, PLANTED, ["no_google"])
    by_rule = {s.rule: s for s in data.slices}
    assert set(by_rule) == {
        f"fineweb.{x}" for x in ("empty", "line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio")
    } | {
        "sql.no_google",
        "sql.inert",
    }
    planted = by_rule["sql.no_google"]
    domains = [s for s in planted.slices if s.dimension == "domain"]
    assert domains and (domains[0].group, domains[0].removed, domains[0].documents) == (GOOGLE, 11, 11)
    assert domains[0].lift == pytest.approx(planted.documents / 11)
    assert len(domains) == 1  # no other domain loses anything to it
    assert by_rule["sql.inert"].slices == [] and by_rule["sql.inert"].removed == 0
    # languages come from lid.176 over the whole pool (before any language step)
    langs = {s.group for rs in data.slices for s in rs.slices if s.dimension == "language"}
    assert len(langs) > 2
    assert f"{GOOGLE} 11/11" in AE.slices_markdown(data)


def test_an_inert_rule_leaves_the_dataset_identical_and_the_arm_reuses_it(pool):
    from tasks.curate import pipeline as C

    without_inert = PLANTED.model_copy(update={"name": "full-inert", "filters": PLANTED.filters[:2]})
    without_google = PLANTED.model_copy(update={"name": "full-no_google", "filters": [PLANTED.filters[0]]})
    dirs = {}
    for r in (PLANTED, without_inert, without_google):
        C.curate(r, pool)
        dirs[r.name] = pool.stage_dir("datasets", C.dataset_key(r))
    assert dirs["full"] != dirs["full-inert"]  # other recipe hashes, other folders
    assert reuse.same_training_data(dirs["full"], dirs["full-inert"])
    assert not reuse.same_training_data(dirs["full"], dirs["full-no_google"])
    reused = reuse.reusing(without_inert, PLANTED)
    assert reused.name == "full-inert" and reused.data_hash() == PLANTED.data_hash()
    assert "identical to full" in reused.description
    assert math.isfinite(float(C.read_stats(pool, reused)["documents"]))


def test_an_ablate_suite_passes_through_the_ablation_form():
    """The ablation deployment's form sends `suite_spec` as JSON: a suite with `ablate:`
    validates into its generated arms, and so does a dumped one (no duplicates)."""
    from prefect.utilities.callables import parameter_schema

    from flows.ablation import ablation_flow

    data = {"name": "s", "sources": SOURCES, "arms": [HDF], "ablate": {"recipe": "hdf", "over": ["dedup"]}}
    params = ablation_flow.validate_parameters({"suite_spec": data})
    names = ["hdf", "hdf-dedup.exact", "hdf-dedup.minhash"]
    assert [a.name for a in params["suite_spec"].arms] == names
    again = ablation_flow.validate_parameters({"suite_spec": params["suite_spec"].model_dump(mode="json")})
    assert [a.name for a in again["suite_spec"].arms] == names
    assert "AblateSpec" in json.dumps(parameter_schema(ablation_flow).model_dump())
