"""Every setting of the service in one place, read from the environment (prefix LENS_)."""
from __future__ import annotations

import json

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
# the pages' files: at the top of a clone, inside the package once installed (pyproject.toml)
WEB = ROOT if (ROOT / "templates").is_dir() else Path(__file__).resolve().parent
TEMPLATES, STATIC = WEB / "templates", WEB / "static"


def default_checkpoints() -> Path:
    """The clone's checkpoints/, or ./checkpoints where the package is installed."""
    return ROOT / "checkpoints" if (ROOT / "checkpoints").is_dir() else Path.cwd() / "checkpoints"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LENS_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    checkpoint_dir: Path = Field(default_factory=default_checkpoints)
    default_model: str = "ptb-3x256"          # the text checkpoint the page opens first
    max_text_chars: int = Field(5000, ge=1)
    max_points: int = Field(5000, ge=2)
    max_strokes: int = Field(200, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1024)
    cache_entries: int = Field(64, ge=0)      # analysed prefixes kept per checkpoint
    torch_threads: int = Field(1, ge=1)       # per worker: many small runs beat one wide one
    allowed_origins: Annotated[list[str], NoDecode] = []   # CORS: none unless configured
    workers: int = Field(1, ge=1)
    max_running: int = Field(2, ge=1)         # concurrent model runs per worker
    solo_run_threads: int = Field(2, ge=1)    # threads of a model run while no other runs in this worker
                                              # (under load, one each); with several workers, 1
    max_waiting: int = Field(8, ge=0)         # requests queued behind them; beyond: 503
    queue_wait_s: float = Field(10.0, gt=0)   # longest wait in the queue before a 503
    rate_per_s: float = Field(20.0, gt=0)     # per client (typing sends a few per second)
    rate_burst: float = Field(60.0, ge=1)
    behind_proxy: bool = False                # trust X-Forwarded-For (only behind your own proxy)
    gzip_min_bytes: int = Field(4096, ge=0)   # answers this large or larger gzipped for a browser that takes
                                              # it; 0: none (a proxy in front compresses)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value):
        """Origins as a JSON list or, as people write them, separated by commas; a trailing slash dropped (a
        browser's Origin has none, so "https://a.org/" would never match)."""
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise ValueError(f"not a JSON list ({e.msg})") from None
        elif isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):             # (what is not a string is left for the type check to name)
            value = [o.strip().rstrip("/") if isinstance(o, str) else o for o in value]
            value = [o for o in value if o != ""]
        return value


def settings_or_exit(**given) -> Settings:
    """The settings, or an exit with one line naming each LENS_ variable that is wrong and why."""
    try:
        return Settings(**given)
    except ValidationError as e:
        wrong = "; ".join(f"LENS_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}" for err in e.errors())
        raise SystemExit(f"lens: {wrong}") from None
