"""The recipe section `decontamination:` (tasks/decontam/decontaminate.py applies it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DecontaminationSpec(BaseModel):
    """The recipe section `decontamination:`."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    n: int = Field(13, ge=3, le=64, description="n-gram length in normalised words")
    mode: Literal["remove", "mask"] = Field("remove", description="drop a contaminated document or mask its spans")
    min_item_words: int = Field(8, ge=1, description="eval items shorter than n but this long match whole")
    mask_token: str = Field("", description="what replaces a masked span")
    min_overlaps: int = Field(1, ge=1, description="matching n-grams that make a document contaminated")
