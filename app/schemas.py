"""Request and response models at the HTTP edge (DESIGN.md section 6)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# strict: a JSON number (integers too), never true/false read as 1/0
Coordinate = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1e7, le=1e7)]
Point = Annotated[list[Coordinate], Field(min_length=2, max_length=2, description="[x, y]")]


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "the cat sat on the mat"}]})
    text: str = Field(min_length=1, description="the text to analyse; characters outside the alphabet are read as unknown")
    model: str | None = Field(default=None, max_length=100, description="checkpoint name (default: the configured one)")
    since: str | None = Field(default=None, pattern="^[0-9a-f]{24}$", description=(
        "the `digest` of an answer the client holds for this checkpoint: if the server still has that "
        "analysis, every per-position list starts at `offset`, where this text's values may first differ "
        "(the client keeps its own values before it); otherwise the answer is whole (`offset` 0)"))


class InkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"strokes": [[[10, 20], [12, 24], [15, 30]], [[30, 20], [31, 28]]]}]})
    strokes: list[Annotated[list[Point], Field(min_length=1)]] = Field(
        min_length=1, description="pen-down strokes, each a list of [x, y] points, screen-style (y down)")
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
    surprisal: list[float | None] = Field(description="bits; null for the first character")
    layers: list[LayerTrace]
    spaces: bool = Field(description="false: the checkpoint reads text without its whitespace, and the typed "
                                     "spaces are the gold word ends")
    gold_word_ends: list[int]
    surprisal_boundaries: SurprisalRow | None
    baseline_rows: list[BaselineRow] = Field(description="baselines' boundaries, drawn beside the layers")
    reused_prefix: int = Field(description="positions taken from the prefix cache")


class InkResponse(BaseModel):
    model: str
    task: Literal["ink"]
    points: list[Annotated[list[float], Field(min_length=3, max_length=3)]] = Field(
        description="[x, y, stroke] as posted, in order")
    model_input: list[Annotated[list[float], Field(min_length=3, max_length=3)]] = Field(
        description="[dx, dy, end-of-stroke] as the model reads them")
    pen_up: list[int] = Field(description="1 at the last point of each stroke")
    nll: list[float | None] = Field(description="nats per point; null for the first point")
    layers: list[LayerTrace]


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    task: Literal["text", "ink"]
    layers: int
    hidden_sizes: list[int]
    detectors: list[bool]
    parameters: int
    metrics: dict


class ModelsResponse(BaseModel):
    default: str | None
    models: list[ModelInfo]


class Health(BaseModel):
    status: Literal["ok"]
    models: int


class ErrorResponse(BaseModel):
    detail: str
