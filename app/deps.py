"""What routes share, as dependencies: `def route(loaded: TextModel, _slot: TextRunSlot)`.

Everything here reads `request.app.state` (filled in by `create_app`), never a global, so that
each app made by `create_app(settings)` keeps its own settings, models and limits.

The checks are `async def`: they never block, and FastAPI runs a plain `def` dependency in its
thread pool (a hop of some 0.1-0.2 ms each, more on a slow machine). The run slot is taken on the
event loop too when one is free; only waiting for one goes to a worker thread.

Order matters. FastAPI calls every dependency whose own inputs are valid, even when the request
body then fails validation. The checks that need the body (length limits, the chosen model, the
run slot) build on one another, so a bad request is refused before it takes, or waits for, a place
in the run queue.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, NamedTuple

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from app.limits import RateLimiter, RunLimiter
from app.registry import Loaded
from app.schemas import InkRequest, TextRequest
from app.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_models(request: Request) -> dict[str, Loaded]:
    return request.app.state.models


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelsDep = Annotated[dict[str, Loaded], Depends(get_models)]


async def client_identity(request: Request, settings: SettingsDep) -> str:
    """Who is asking, for the rate limit and the prefix cache: the peer's address, or, when the settings say that a proxy
    of ours is in front, the last X-Forwarded-For hop: the address that proxy saw. The hops before it
    are whatever the client wrote, and a client that names itself anew each time is never limited."""
    if settings.behind_proxy and request.headers.get("x-forwarded-for"):
        return request.headers["x-forwarded-for"].split(",")[-1].strip()
    return request.client.host if request.client else "unknown"


ClientId = Annotated[str, Depends(client_identity)]


async def check_rate(request: Request, client: ClientId) -> None:
    """429 with Retry-After for a client over its rate. It runs before the body's fields are
    checked, so a request that then fails validation counts too."""
    rates: RateLimiter = request.app.state.rates
    rates.check(client)


RateLimited = Annotated[None, Depends(check_rate)]


async def text_within_limits(req: TextRequest, settings: SettingsDep) -> TextRequest:
    if len(req.text) > settings.max_text_chars:
        raise HTTPException(413, f"text has {len(req.text)} characters; the limit is {settings.max_text_chars}")
    return req


async def ink_within_limits(req: InkRequest, settings: SettingsDep) -> InkRequest:
    if len(req.strokes) > settings.max_strokes:
        raise HTTPException(413, f"{len(req.strokes)} strokes; the limit is {settings.max_strokes}")
    points = sum(len(s) for s in req.strokes)
    if points > settings.max_points:
        raise HTTPException(413, f"{points} points; the limit is {settings.max_points}")
    return req


ValidTextRequest = Annotated[TextRequest, Depends(text_within_limits)]
ValidInkRequest = Annotated[InkRequest, Depends(ink_within_limits)]


def choose_model(models: dict[str, Loaded], default_model: str, name: str | None, task: str) -> Loaded:
    """The checkpoint a request names; without a name, the configured default when it is of this
    task, else the first one that is. 404 for an unknown name or no checkpoint of the task, 400 for
    a checkpoint of the other task."""
    if name is None:
        default = models.get(default_model)
        name = default_model if default and default.task == task else next(
            (n for n, m in models.items() if m.task == task), None)
        if name is None:
            raise HTTPException(404, f"no {task} checkpoint is loaded")
    loaded = models.get(name)
    if loaded is None:
        known = ", ".join(sorted(n for n, m in models.items() if m.task == task)) or "none"
        raise HTTPException(404, f"unknown model {name[:100]!r}; the {task} checkpoints here: {known}")
    if loaded.task != task:
        raise HTTPException(400, f"model {name!r} is for {loaded.task}, not for {task}")
    return loaded


async def text_model(req: ValidTextRequest, models: ModelsDep, settings: SettingsDep) -> Loaded:
    return choose_model(models, settings.default_model, req.model, "text")


async def ink_model(req: ValidInkRequest, models: ModelsDep, settings: SettingsDep) -> Loaded:
    return choose_model(models, settings.default_model, req.model, "ink")


TextModel = Annotated[Loaded, Depends(text_model)]
InkModel = Annotated[Loaded, Depends(ink_model)]


class RunSlot(NamedTuple):
    """A place in the run queue, and the threads its model run may use: both cores for a run alone
    (a 1,000-character analysis streams every weight block once per character, and two cores
    stream faster than one), one each under load."""
    threads: int


async def hold_run_slot(request: Request) -> AsyncIterator[RunSlot]:
    """A place in the run queue while the route runs; 503 with Retry-After when it is full. A free slot
    is taken on the event loop; only waiting for one goes to a worker thread."""
    runs: RunLimiter = request.app.state.runs
    settings: Settings = request.app.state.settings
    running = runs.enter(wait=False)
    if running is None:
        running = await run_in_threadpool(runs.enter)
    try:
        yield RunSlot(threads=settings.solo_run_threads if running == 1 else 1)
    finally:
        runs.leave()


# The slot builds on the chosen model, so it is taken only once every check of the body has passed.
async def text_run_slot(request: Request, _model: TextModel) -> AsyncIterator[RunSlot]:
    async for slot in hold_run_slot(request):
        yield slot


async def ink_run_slot(request: Request, _model: InkModel) -> AsyncIterator[RunSlot]:
    async for slot in hold_run_slot(request):
        yield slot


# scope="function": the slot is given back when the route returns, not after the answer is sent
TextRunSlot = Annotated[RunSlot, Depends(text_run_slot, scope="function")]
InkRunSlot = Annotated[RunSlot, Depends(ink_run_slot, scope="function")]
