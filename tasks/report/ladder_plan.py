"""A proxy ladder's rungs: the suite at each model size with its training tokens.

- `train_tokens_for`: the stated token rule: `tokens_per_param x parameters`, capped at
  `max_epochs` passes over the arms' (token-matched) datasets; the trainer runs it in
  whole optimizer steps (its own rounding, `tasks.train.model.training_steps`).
- `train_flops`: 6 N D (Kaplan et al.; N counts every parameter, the tied embedding too).
- The rung's peak lr and batch: its arms' `train.hparams` rule (tasks/train/hparams.py) at
  the rung's size and tokens; a `step_law` batch changes the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenPlan:
    n_params: int
    tokens: int  # train.tokens of every arm at this rung: the rule's tokens, never over the cap
    wanted: int  # tokens_per_param x parameters
    capped: bool  # the pool cap bound
    steps: int  # optimizer steps the trainer runs for `tokens`
    trained: int  # steps x tokens per step: `tokens` plus less than one step
    epochs: float  # passes over the (token-matched) dataset that `trained` makes


def train_tokens_for(
    n_params: int, tokens_per_param: float, dataset_tokens: int, max_epochs: float, tokens_per_step: int
) -> TokenPlan:
    """min(tokens_per_param x N, max_epochs x dataset tokens) as the arms' `train.tokens`.

    Not rounded here: the trainer turns train.tokens into whole steps itself, so a rung
    that asks for what a suite arm asks for (the default suite's `train_tokens` is its
    ladder's nano rule) has that arm's training hash and reuses its model."""
    from tasks.train.model import training_steps

    if n_params <= 0 or tokens_per_param <= 0 or dataset_tokens <= 0 or max_epochs <= 0 or tokens_per_step <= 0:
        raise ValueError(
            f"token rule: n_params={n_params}, tokens_per_param={tokens_per_param}, "
            f"dataset_tokens={dataset_tokens}, max_epochs={max_epochs}, tokens_per_step={tokens_per_step} "
            "must all be positive"
        )
    wanted = int(round(tokens_per_param * n_params))
    cap = int(max_epochs * dataset_tokens)
    tokens = max(1, min(wanted, cap))
    steps = training_steps(tokens, tokens_per_step)
    trained = steps * tokens_per_step
    return TokenPlan(n_params, tokens, wanted, wanted > cap, steps, trained, trained / dataset_tokens)


def train_flops(n_params: int, tokens: int) -> float:
    return 6.0 * n_params * tokens


@dataclass(frozen=True)
class Rung:
    preset: str
    suite: Any  # tasks.suite.Suite: the suite at this size (name `<suite>.<preset>`)
    plan: TokenPlan
    hparams: str = "fixed"  # the arms' train.hparams rule(s), `+`-joined when they differ
    peak_lr: float = 0.0  # as the first arm resolves it (tasks/train/hparams.py)
    batch_size: int = 0  # sequences per optimizer step, likewise

    @property
    def flops(self) -> float:
        return train_flops(self.plan.n_params, self.plan.trained)


def with_hparams(suite, rule: str):
    """The suite with every arm at `train.hparams: rule`, named `<suite>-<rule>` so that its
    rungs' runs and report do not mix with the suite's own (`flows.ladder --hparams`)."""
    arms = [a.model_copy(update={"train": a.train.model_copy(update={"hparams": rule})}) for a in suite.arms]
    for arm in arms:  # validated as a recipe would be: step_law refuses a hand-set lr or batch
        type(arm.train).model_validate(arm.train.model_dump())
    return suite.model_copy(update={"name": f"{suite.name}-{rule}", "arms": arms})


def plan_rungs(suite, ladder) -> list[Rung]:
    """The suite at each preset of `ladder` (a tasks.suite.LadderSpec): one suite
    tokenizer for all rungs (so the token-matched datasets are shared and cached) and
    training tokens by `train_tokens_for`."""
    from tasks.train.hparams import resolve_hparams
    from tasks.train.model import get_preset, preset_params

    if not suite.token_budget:
        raise ValueError(
            f"suite {suite.name!r}: a ladder needs `token_budget` (the token-matched datasets every rung trains on)"
        )
    vocab = ladder.vocab_size or suite.tokenizer_vocab or get_preset(suite.preset).vocab_size
    rungs = []
    for preset in ladder.presets:
        p = get_preset(preset)
        plan = train_tokens_for(
            preset_params(preset, vocab),
            ladder.tokens_per_param,
            suite.token_budget,
            ladder.max_epochs,
            p.batch_size * p.seq_len,
        )
        update = {
            "name": f"{suite.name}.{preset}",
            "preset": preset,
            "train_tokens": plan.tokens,
            "tokenizer_vocab": vocab,
            "ladder": None,
        }
        rung_suite = suite.model_copy(update=update)
        arms = rung_suite.resolved_arms()
        hp = resolve_hparams(arms[0].train, preset_params(preset, non_embedding=True), plan.tokens, p.seq_len)
        if hp.batch != p.batch_size:  # the trainer steps in the resolved batch
            plan = train_tokens_for(
                plan.n_params, ladder.tokens_per_param, suite.token_budget, ladder.max_epochs, hp.batch * p.seq_len
            )
        rule = "+".join(sorted({a.train.hparams for a in arms}))
        rungs.append(Rung(preset, rung_suite, plan, rule, hp.lr, hp.batch))
    return rungs
