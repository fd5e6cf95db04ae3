"""The four hand-off contracts: each takes what a stage wrote and returns a `Contract`."""

from tasks.validation.contracts.dataset import dataset_contract, dataset_contract_for_recipe
from tasks.validation.contracts.documents import documents_contract, ingest_counts
from tasks.validation.contracts.signals import signals_contract
from tasks.validation.contracts.token_shards import token_shards_contract

__all__ = [
    "dataset_contract",
    "dataset_contract_for_recipe",
    "documents_contract",
    "ingest_counts",
    "signals_contract",
    "token_shards_contract",
]
