"""The four hand-off contracts: each takes what a stage wrote and returns a `Contract`."""

from tasks.validation.contracts.dataset import (
    MixtureInputs,
    dataset_contract,
    dataset_contract_for_recipe,
    recipe_mixture_inputs,
)
from tasks.validation.contracts.documents import documents_contract, ingest_counts
from tasks.validation.contracts.signals import signals_contract
from tasks.validation.contracts.token_shards import token_shards_contract, token_shards_contract_for_packed

__all__ = [
    "MixtureInputs",
    "dataset_contract",
    "dataset_contract_for_recipe",
    "documents_contract",
    "ingest_counts",
    "recipe_mixture_inputs",
    "signals_contract",
    "token_shards_contract",
    "token_shards_contract_for_packed",
]
