"""The JSON API (DESIGN.md section 6): health, the models, text and ink analysis, example ink.

Routes are thin: `app.deps` checks the request, chooses the model and holds the run slot; the
work is `app.analysis`.
"""
from __future__ import annotations

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from app.analysis import analyse_ink, analyse_text
from app.deps import (ClientId, InkModel, InkRunSlot, ModelsDep, RateLimited, SettingsDep, TextModel, TextRunSlot,
                      ValidInkRequest, ValidTextRequest)
from app.schemas import ErrorResponse, Health, InkRequest, InkResponse, ModelsResponse, TextResponse
from model.ink import synthetic_cursive

RETRY = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
WHEN = {
    400: ("the checkpoint named is for the other task (text or ink)", {}),
    404: ("no checkpoint of that name", {}),
    413: ("the text, strokes or points are past the server's limits (or the body past LENS_MAX_BODY_BYTES)", {}),
    415: ("the body was not sent as JSON (Content-Type: application/json)", {}),
    422: ("the request does not match its schema, or its body is not JSON: `detail` says where", {}),
    429: ("this client is over its rate (per worker): retry after Retry-After", RETRY),
    503: ("every model run is busy and the queue is full, or the wait was too long: retry after Retry-After", RETRY),
}


def errors(*codes: int) -> dict:
    """The error answers a route can give, each with when it happens, for the OpenAPI document."""
    return {c: {"model": ErrorResponse, "description": WHEN[c][0], "headers": WHEN[c][1]} for c in codes}


ANALYSIS_ERRORS = errors(400, 404, 413, 415, 422, 429, 503)
router = APIRouter()


def validated(schema: type[BaseModel], body: dict) -> Response:
    """The body checked against its schema and written by pydantic in one pass: FastAPI's own path
    (to Python objects, then json.dumps) took 2-3 ms of a 6 ms answer for 1,000 characters."""
    return Response(schema.model_validate(body).model_dump_json(), media_type="application/json")


@router.get("/healthz", response_model=Health)
def healthz(checkpoints: ModelsDep):
    """The server is up: how many checkpoints it holds."""
    return {"status": "ok", "models": len(checkpoints)}


@router.get("/api/models", response_model=ModelsResponse)
def models(checkpoints: ModelsDep, settings: SettingsDep):
    """Every checkpoint served: its task, sizes, which layers have a detector, how it reads text, and the
    metrics `model.evaluate` recorded for it; `default`, the text checkpoint the page opens on."""
    default = settings.default_model if settings.default_model in checkpoints else None
    return {"default": default, "models": [m.describe() for m in checkpoints.values()]}


# Dependencies run in the order they are listed: the rate first, the run slot last.
@router.post("/api/text", response_model=TextResponse, responses=ANALYSIS_ERRORS)
def text(_rate: RateLimited, client: ClientId, req: ValidTextRequest, loaded: TextModel, slot: TextRunSlot):
    """A text's traces (DESIGN.md 6): per position, every layer's z, z~, operation, ||h|| and gate, the
    surprisal, the gold word ends and the baselines' boundaries. With `since`, only what may have changed."""
    return validated(TextResponse, analyse_text(loaded, req.text, slot.threads, req.since, client))


@router.post("/api/ink", response_model=InkResponse, responses=ANALYSIS_ERRORS)
def ink(_rate: RateLimited, req: ValidInkRequest, loaded: InkModel, slot: InkRunSlot):
    """Pen strokes' traces: per point, every layer's z, z~, operation, ||h|| and gate, the NLL, the pen-ups,
    and the ink as the model reads it (normalised as the checkpoint was trained)."""
    return validated(InkResponse, analyse_ink(loaded, req.strokes, slot.threads))


@router.get("/api/ink/example", response_model=InkRequest, responses=errors(422, 429))
def ink_example(_rate: RateLimited, text: str = Query("hello world", min_length=1, max_length=40, pattern="[A-Za-z0-9]",
                                  description="what to write: at least one letter or digit"),
                seed: int = Query(0, ge=0, le=2**31)):
    """Synthetic cursive (a Hershey stroke font), for trying the ink page without a pen."""
    line = synthetic_cursive(text, seed=seed, height=60.0)
    return {"strokes": [[(round(x * 1.5 + 40, 1), round(y * 1.5 + 160, 1)) for x, y in s] for s in line.strokes]}
