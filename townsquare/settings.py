"""Settings: every knob, its default and what it does, read from TOWNSQUARE_* variables.

Nothing is read at import time: ``Settings()`` is built by the CLI or ``create_app`` and passed
down. ``townsquare settings`` prints this table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOWNSQUARE_", extra="forbid", validate_default=True)

    data_dir: Path = Field(Path("data"), description="Folder for the embedded database, indexes and trained models.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL. Unset: one SQLite file in data_dir. postgresql://... for scale-out.")

    # Language models (see townsquare.models)
    embed_model: str = Field("minilm", description="Text embedding model name (see `townsquare models`).")
    generator_backend: Literal["llama_cpp", "openai"] = Field(
        "llama_cpp", description="Text generation backend: a local GGUF or an OpenAI-compatible server.")
    generator_model: str = Field(
        "smollm2", description="Local model name (smollm2, gemma3) or a path to a GGUF file; for openai the model name.")
    openai_base_url: str = Field("http://127.0.0.1:8080/v1", description="OpenAI-compatible endpoint base URL.")
    openai_api_key: str = Field("", description="API key for the OpenAI-compatible endpoint (empty for none).")
    openai_timeout_s: float = Field(30.0, gt=0, description="Longest one generation waits for the OpenAI-compatible endpoint, retries included; after it could not reach the endpoint or timed out, generation is not tried again for 30 s.")
    openai_max_retries: int = Field(3, ge=0, le=10, description="Retries with exponential backoff on 5xx / connection errors.")
    threads: int = Field(2, ge=1, le=256, description="CPU threads for model inference.")
    safety_policy: Path | None = Field(
        None, description="The community's moderation policy file (TOML); unset: the built-in policy.")

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "townsquare.sqlite"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def shown_database_url(self) -> str:
        """The database URL to print or log: its password masked."""
        return masked_url(self.resolved_database_url)

    @model_validator(mode="after")
    def _check_url(self) -> Settings:
        url = self.database_url
        if url is not None and not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError(f"TOWNSQUARE_DATABASE_URL (or --database-url) is {masked_url(url)!r}: it must start with "
                             "sqlite: or postgresql:")
        return self


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ***, for printing and logging."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy reads: mask what looks like user:password@
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)


# Variables with the TOWNSQUARE_ prefix that are not settings: read by the test suite, never by townsquare.
NOT_SETTINGS = frozenset({"TOWNSQUARE_SCREENSHOTS"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """TOWNSQUARE_* variables in ``environ`` that no settings class reads (a misspelt one is otherwise
    silently ignored: TOWNSQUARE_SAFETY_POLCY would run the built-in policy)."""
    names = [name for name in environ if name.upper().startswith("TOWNSQUARE_")]
    # the web settings import the web package: only asked for when one of theirs is set
    known = set(known_variables(web=any(name.upper().startswith("TOWNSQUARE_WEB_") for name in names))) | NOT_SETTINGS
    return sorted(name for name in names if name.upper() not in known)


def known_variables(web: bool = True) -> list[str]:
    """Every variable a settings class reads (``web``: the HTTP API's too)."""
    known = [f"TOWNSQUARE_{name.upper()}" for name in Settings.model_fields]
    if web:
        from townsquare.web.config import WebConfig

        known += [f"TOWNSQUARE_WEB_{name.upper()}" for name in WebConfig.model_fields]
    return known
