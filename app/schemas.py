"""Request and response models at the HTTP edge (DESIGN.md section 6)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from model.ink import MAX_COORDINATE

# strict: a JSON number (integers too), never true/false read as 1/0
Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_COORDINATE, le=MAX_COORDINATE)]
Point = Annotated[list[Coordinate], Field(min_length=2, max_length=2, description="[x, y]")]


FEW = 5           # unknown keys said one by one


class RequestBody(BaseModel):
    """A request's body: its problems are few however large it is (its lists stop at their first bad item,
    and many unknown keys are one error), since FastAPI reworks each error on the event loop, where a body
    of 95,000 unknown keys or 60,000 bad points held every client for seconds."""
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data):
        unknown = [k for k in data if k not in cls.model_fields] if isinstance(data, dict) else []
        if len(unknown) > FEW:                     # (a few are said each on its own, beside what else is wrong)
            named = ", ".join(repr(k[:40]) for k in unknown[:FEW])
            raise PydanticCustomError("extra_forbidden", "unknown fields: {named} and {more} more",
                                      {"named": named, "more": len(unknown) - FEW})
        return data


class TextRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "the cat sat on the mat"}]})
    text: str = Field(min_length=1, description="the text to analyse; characters outside the alphabet are read as unknown")
    model: str | None = Field(default=None, max_length=100, description="checkpoint name (default: the configured one)")
    since: str | None = Field(default=None, pattern="^[0-9a-f]{24}$", description=(
        "the `digest` of an answer the client holds for this checkpoint: if the server still has that "
        "analysis, every per-position list starts at `offset`, where this text's values may first differ "
        "(the client keeps its own values before it); otherwise the answer is whole (`offset` 0)"))


class InkRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={
        "examples": [{"strokes": [[[10, 20], [12, 24], [15, 30]], [[30, 20], [31, 28]]]}]})
    # fail_fast: a list stops at its first bad item (150,000 empty strokes are one error, not 150,000)
    strokes: list[Annotated[list[Point], Field(min_length=1, fail_fast=True)]] = Field(
        min_length=1, fail_fast=True, description="pen-down strokes, each a list of [x, y] points, screen-style (y down)")
    model: str | None = Field(default=None, max_length=100)


class LayerTrace(BaseModel):
    layer: int
    z: list[int] | None = Field(description="boundary after position t (null: no detector)")
    z_soft: list[float] | None = Field(description="z~ before the 0.5 threshold")
    op: list[Literal["U", "C", "F"]]
    h_norm: list[float]
    gate: list[float]


class SurprisalRow(BaseModel):
    z: list[int]
    threshold_bits: float
    threshold_from: str | None


class BaselineRow(BaseModel):
    name: str
    z: list[int] = Field(description="1: a boundary after position t")
    how: str


class TextResponse(BaseModel):
    model: str
    task: Literal["text"]
    offset: int = Field(description="the position the per-position lists start at: 0, or with `since` the first "
                                    "that may differ from the answer the client holds")
    length: int = Field(description="positions in all (offset + the lists' length)")
    digest: str = Field(description="names this analysis: send it back as `since` with the next text")
    chars: list[str] = Field(description="what the model read, one symbol per position")
    source_spans: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        description="[start, end) of each position in the input, counted in code points (as Python counts; "
                    "a JavaScript string counts a character beyond U+FFFF, an emoji, as two)")
    unknown: list[bool]
    surprisal: list[float | None] = Field(description="bits; null for the first character; where `unknown`, the "
                                                      "surprisal of the placeholder the character is read as (tens of "
                                                      "bits: not the character's own, so leave it out of any sum)")
    layers: list[LayerTrace]
    spaces: bool = Field(description="false: the checkpoint reads text without its whitespace, and the typed "
                                     "spaces are the gold word ends")
    gold_word_ends: list[int]
    surprisal_boundaries: SurprisalRow | None
    baseline_rows: list[BaselineRow] = Field(description="baselines' boundaries, drawn beside the layers")
    reused_prefix: int = Field(description="positions taken from the prefix cache, counted only as far as this "
                                           "text reads as the answer named by `since` does (0 without it): "
                                           "clients behind one address share the cache, and what another typed "
                                           "is not told")


class InkResponse(BaseModel):
    model: str
    task: Literal["ink"]
    points: list[tuple[float, float, int]] = Field(description="[x, y, stroke] as posted, in order (stroke from 0)")
    model_input: list[Annotated[list[float], Field(min_length=3, max_length=3)]] = Field(
        description="[dx, dy, end-of-stroke] as the model reads them")
    pen_up: list[int] = Field(description="1 at the last point of each stroke")
    nll: list[float | None] = Field(description="nats per point; null for the first point")
    layers: list[LayerTrace]


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    task: Literal["text", "ink"]
    arch: Literal["hmlstm", "lstm"]
    layers: int
    hidden_sizes: list[int]
    detectors: list[bool] = Field(description="per layer, whether it has a boundary detector")
    parameters: int
    layer_norm: str | bool | None = None
    nested: bool | None = None
    spaces: bool | None = Field(description="text: false where the checkpoint reads text without its whitespace")
    vocabulary: list[str] | None = Field(description="text: the symbols the model reads")
    normalisation: dict | None = Field(description="ink: how pen offsets are normalised (DESIGN.md 10)")
    training: dict = Field(description="how it was trained (the command, its schedule)")
    metrics: dict = Field(description="what `model.evaluate --record` measured (DESIGN.md 6, 8, 9, 10)")


class ModelsResponse(BaseModel):
    default: str | None
    models: list[ModelInfo]


class Health(BaseModel):
    status: Literal["ok"]
    models: int


class ErrorResponse(BaseModel):
    detail: str
