"""Settings of the HTTP API and web app, read from TOWNSQUARE_WEB_* variables.

Kept apart from ``townsquare.settings.Settings`` until the lead folds them in; ``WebConfig()`` is
built by ``create_app`` (or the ``serve`` command), never at import.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOWNSQUARE_WEB_", extra="forbid")

    demo: bool = Field(
        False, description="Demo mode: anyone may sign in to the web app as any user. Never in production."
    )
    session_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="How long a web or bearer session lasts.")
    auth_recall_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="How long a worker trusts a key or session it verified, without asking the database "
        "again. A revocation or sign-out made in another process (the CLI, another worker) takes effect "
        "within this time; one made through the same worker at once. 0: ask on every request.",
    )
    rate_per_s: float = Field(
        50.0, gt=0, description="Requests per second per API key or session (per worker)."
    )
    rate_burst: int = Field(
        200, ge=1, description="Requests a key may make at once before the rate limit applies."
    )
    max_body_bytes: int = Field(
        2_000_000, ge=1024, description="Largest request body accepted (413 beyond it)."
    )
    max_batch: int = Field(5000, ge=1, description="Most records in one batch ingest request.")
    cookie_secure: bool = Field(
        False, description="Send the session cookie only over HTTPS (set behind TLS)."
    )
    feed_model: str | None = Field(
        None, description="Text model whose post vectors the feed reads (default: the embedder's)."
    )
    feed_concurrency: int = Field(
        2,
        ge=1,
        description="Feed pages a worker computes at once; more requests wait their turn. A page is mostly "
        "Python work holding the GIL, so pages computed side by side only take turns (and the tail grows), "
        "while a second one keeps the core busy when a page waits on vector search or disk (measurements in "
        "docs/api.md).",
    )
    balance_workers: bool = Field(
        True,
        description="A worker holding more than its share of the requests in progress across the server's "
        "workers closes kept-alive connections after their response, so that a client with a few long-lived "
        "connections ends up with them spread evenly (see townsquare/web/balance.py).",
    )
    generate_replies: bool = Field(
        True,
        description="Use the text generator for reply suggestions and drafts "
        "(off: the response bank and stock replies only, much faster).",
    )
    moderate_on_ingest: bool = Field(
        True,
        description="Score ingested posts with the safety classifiers and queue "
        "what the policy flags (skipped, with a warning, when none are installed).",
    )
    policy_check_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="How often a worker looks whether the policy file (TOWNSQUARE_SAFETY_POLICY) changed; an "
        "edit takes effect in every worker within this time, without a restart. An edit that does not "
        "load is logged and shown by /readyz, and the policy read before stays in force.",
    )
    service_did: str = Field("did:web:localhost", description="The DID of this feed generator (Bluesky).")
    publisher_did: str = Field(
        "did:web:localhost", description="The DID of the account that publishes the feed."
    )
    feed_name: str = Field(
        "for-you", pattern=r"^[a-z0-9-]{1,15}$", description="The feed's record key on Bluesky."
    )
