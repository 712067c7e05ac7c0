"""Request and response bodies, split by direction. Ingest bodies are the importers' own records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from townsquare.ingest.loader import ImportReport
from townsquare.ingest.records import AnyRecord, ExternalId, InteractionKind, as_utc, no_nul


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- in --------------------------------------------------------------------------------------
class EdgeCreate(Body):
    source: ExternalId
    target: ExternalId
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    _utc_created = field_validator("created_at")(as_utc)
    _no_nul = field_validator("source", "target")(no_nul)


class BatchCreate(Body):
    records: list[AnyRecord] = Field(
        min_length=1, description="Users, posts, edges and interactions, any order."
    )


class FeedbackCreate(Body):
    post: ExternalId
    kind: InteractionKind
    value: float | None = Field(None, ge=0.0, le=1e9, allow_inf_nan=False,
                                description="Milliseconds for dwell, the rating for rating; no other kind has one.")

    @model_validator(mode="after")
    def _value_fits_kind(self) -> FeedbackCreate:
        needs = self.kind in (InteractionKind.dwell, InteractionKind.rating)
        if needs and self.value is None:
            raise ValueError(f"a {self.kind.value} needs its value (dwell: milliseconds; rating: the rating)")
        if not needs and self.value is not None:
            raise ValueError(f"a {self.kind.value} has no value; only dwell and rating do")
        return self


class SteeringCreate(Body):
    text: Annotated[
        str,
        Field(min_length=1, max_length=500, description="Plain words, e.g. 'more cooking, less politics'."),
    ]


class ClassifyCreate(Body):
    texts: list[Annotated[str, Field(min_length=1, max_length=20000)]] = Field(min_length=1, max_length=64)


class DecisionCreate(Body):
    action: Literal["allow", "label", "demote", "review", "hide"]
    note: Annotated[str, Field(max_length=2000)] = ""
    labels: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=64)]] | None = None


class DecisionsCreate(DecisionCreate):
    cases: Annotated[list[Annotated[int, Field(ge=1, le=2**62)]], Field(min_length=1, max_length=500)]


class AppealCreate(Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


Scope = Literal["ingest", "read", "moderate", "admin"]


class KeyCreate(Body):
    scopes: list[Scope] = Field(min_length=1, max_length=4)
    user: ExternalId | None = None
    name: Annotated[str, Field(max_length=128)] = ""


class SessionCreate(Body):
    user: ExternalId
    scopes: list[Literal["read", "moderate"]] = Field(
        default_factory=lambda: ["read"], min_length=1, max_length=2
    )


# -- out -------------------------------------------------------------------------------------
class IngestPublic(BaseModel):
    inserted: dict[str, int]
    existing: dict[str, int]
    changed: dict[str, int] = Field(
        default_factory=dict, description="Stored posts deleted or given a new visibility; edges removed."
    )
    skipped: int

    @classmethod
    def of(cls, report: ImportReport) -> IngestPublic:
        summary = report.summary()
        return cls(
            inserted={k: v for k, v in summary["inserted"].items() if v},
            existing={k: v for k, v in summary["existing"].items() if v},
            changed={k: v for k, v in summary["changed"].items() if v},
            skipped=summary["skipped"],
        )


class FeedPagePublic(BaseModel):
    user: str
    page: int
    cursor: str | None
    session: str
    ranker_version: int | None
    items: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    removed: dict[str, int]
    timings: dict[str, float]


class SteeringPublic(BaseModel):
    id: int | None
    direction: str
    phrase: str
    weight: float


class KeyPublic(BaseModel):
    id: int
    prefix: str
    name: str
    scopes: list[str]
    user_id: int | None
    created_at: str
    revoked_at: str | None = None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret, shown only once.")


class SessionCreated(BaseModel):
    token: str
    user: str
    scopes: list[str]
    expires_at: str


class Message(BaseModel):
    ok: bool = True
    detail: str = ""


# -- errors --------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    message: str = Field(description="What is wrong, in words.")
    field: str | None = Field(None, description="The field, query or path parameter at fault, when one is.")
    location: str | None = Field(None, description="Where that field is: body, query or path.")


class ErrorBody(BaseModel):
    """Every error the API answers, whatever its status (``townsquare.web.errors``)."""

    error: ErrorDetail


def _error(description: str) -> dict:
    return {"model": ErrorBody, "description": description}


# What any API route may answer besides its success, as the OpenAPI schema documents it.
ERROR_RESPONSES: dict[int | str, dict] = {
    401: _error("No key or session, or one that is unknown, revoked or expired."),
    403: _error("The key's scopes or bound user do not allow this."),
    404: _error("No such user, post, case or key (or one the caller may not see)."),
    409: _error("Something the request names was removed by a concurrent request; ask again."),
    413: _error("The body is over the size limit, or a batch holds too many records."),
    415: _error("The body is not sent as application/json."),
    422: _error("A field, query or path parameter is invalid (the error names it), or the body is not JSON."),
    429: _error("Over the rate limit; see Retry-After."),
    503: _error("The database is busy or the feed is still loading; try again (see Retry-After)."),
}
