"""``FeedConfig``: the feed's knobs and the pipeline as data (which components, with which options).

Each component's own options are validated by the component (``Options`` models with
``extra="forbid"``) when the pipeline is built; this module only says which ones run, in order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class EngagementWeights(BaseModel):
    """How much each predicted engagement is worth; defaults follow the published home-timeline weights."""

    model_config = ConfigDict(extra="forbid")
    click: float = Field(11.0, description="A good click (the published 'good click' weight).")
    like: float = 0.5
    reply: float = 13.5
    repost: float = 1.0
    hide: float = Field(-74.0, description="Negative feedback: 'show less' / hide.")
    not_interested: float = Field(-74.0, description="Negative feedback: not interested.")
    report: float = -369.0

    def as_dict(self) -> dict[str, float]:
        return self.model_dump()


class ComponentSpec(BaseModel):
    """One pipeline component: its registered name and options (checked by the component)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


def _specs(*names: str) -> list[ComponentSpec]:
    return [ComponentSpec(name=n) for n in names]


DEFAULT_SOURCES = ("in_network", "social_proof", "interest_similarity", "item_item", "factorisation",
                   "trending", "fresh", "cold_start", "steering")
# Cheap in-memory filters first; the ones that ask the database last.
DEFAULT_FILTERS = ("own_posts", "seen_posts", "blocked_authors", "replies", "languages", "deleted_posts",
                   "moderation")
DEFAULT_SCORERS = ("engagement", "steering", "moderation_demotion")
DEFAULT_SELECTORS = ("author_diversity", "topic_diversity", "network_balance", "exploration", "near_duplicates")


class FeedConfig(BaseModel):
    """Everything the For-you feed can be told; a platform overrides fields in its settings."""

    model_config = ConfigDict(extra="forbid")
    weights: EngagementWeights = Field(default_factory=EngagementWeights)
    sources: list[ComponentSpec] = Field(default_factory=lambda: _specs(*DEFAULT_SOURCES))
    filters: list[ComponentSpec] = Field(default_factory=lambda: _specs(*DEFAULT_FILTERS))
    scorers: list[ComponentSpec] = Field(default_factory=lambda: _specs(*DEFAULT_SCORERS))
    selectors: list[ComponentSpec] = Field(default_factory=lambda: _specs(*DEFAULT_SELECTORS))
    source_timeout_ms: float = Field(300.0, gt=0, description="A source slower than this is skipped and logged.")
    pool_size: int = Field(600, ge=10, description="Ranked candidates a feed session keeps for its pages.")
    session_ttl_s: int = Field(1800, ge=10, description="How long a cursor stays valid.")
    max_page: int = Field(100, ge=1, le=500, description="Most items one page may ask for.")
    interest_slots: int = Field(4, ge=1, le=16, description="Interest vectors per user (cooking AND chess).")
    slot_merge_similarity: float = Field(
        0.55, ge=-1, le=1, description="A liked post this close to an interest vector updates it; else opens a slot.")
    refresh_interval_s: float = Field(
        0.25, ge=0, le=1.0, description="Least time between two catch-ups of the in-memory index with the tables.")
    vector_search: Literal["auto", "index", "store"] = Field(
        "auto", description="Nearest posts by text: 'index' searches in the feed's own in-memory index, 'store' asks "
                            "the database (pgvector); 'auto' is 'store' on PostgreSQL, 'index' on SQLite.")
    clock: Literal["wall", "latest_post"] = Field(
        "wall", description="'latest_post' makes 'now' the newest post's time (historical datasets, demos).")
