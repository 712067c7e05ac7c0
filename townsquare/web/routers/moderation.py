"""Trust & safety: classify texts, the moderation queue, decisions and appeals."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import select

from townsquare.safety.base import CLASSIFIER_NAME
from townsquare.safety.queue import (
    appeal_case,
    decide_case,
    decide_cases,
    list_cases,
    queue_health,
    redecide_posts,
)
from townsquare.storage.moderation_schema import moderation_cases
from townsquare.storage.schema import posts
from townsquare.web.auth import Principal
from townsquare.web.deps import CurrentKey, ModerateKey, Services
from townsquare.web.schemas import AppealCreate, ClassifyCreate, DecisionCreate, DecisionsCreate

router = APIRouter(prefix="/v1", tags=["moderation"])
CaseId = Annotated[int, Path(ge=1, le=2**62)]


@router.post("/classify")
def classify(body: ClassifyCreate, _key: ModerateKey, services: Services) -> list[dict[str, Any]]:
    """Scores of every classifier for each text, and what the community policy would do."""
    scorer, policy = services.scorer(), services.policy()
    start = time.perf_counter()
    results = scorer.score(body.texts)
    services.metrics.models.labels("safety", "classify").observe(time.perf_counter() - start)
    out = []
    for text, result in zip(body.texts, results):
        decision = policy.decide(result.scores, result.spans)
        out.append(
            {
                "text": text,
                "scores": result.scores,
                "spans": result.spans,
                "action": decision.action,
                "labels": list(decision.labels),
                "why": decision.explain(),
            }
        )
    return out


def _jsonable(case: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in case.items()}


@router.get("/moderation/queue")
def queue(
    _key: ModerateKey,
    services: Services,
    status: Literal["open", "appealed", "todo", "decided", "closed", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    classifier: Annotated[str | None, Query(pattern=f"^{CLASSIFIER_NAME.pattern}$")] = None,  # or user_reports
) -> list[dict[str, Any]]:
    """Cases with the post's text, suggested action and reasons, ``limit`` of them after ``offset``: open and
    appealed ones (``todo``: both) appeals and the most urgent first, decided and closed ones the most recent
    first; with ``classifier``, only those with a reason from it (``user_reports``: the reported ones)."""
    cases = list_cases(services.store, status=status, limit=limit, offset=offset, classifier=classifier)
    return [_jsonable(c) for c in cases]


@router.post("/moderation/cases/{case_id}/decision", status_code=201)
def decide(
    case_id: CaseId, body: DecisionCreate, principal: ModerateKey, services: Services
) -> dict[str, Any]:
    moderator = _moderator(principal, services)
    decision = decide_case(services.store, case_id, moderator, body.action, labels=body.labels, note=body.note,
                           moderator_user=principal.user_id, known_labels=_known(services, body.labels))
    services.moderation_changed([decision["post_id"]])
    return decision


def _moderator(principal: Principal, services) -> str:
    """Who a decision is recorded under: the user's handle for a session or a key bound to a user (looked up
    now, so a renamed user decides under the new one), else the key ("key:3"). ``user export`` and user
    deletion find a moderator's decisions by handle."""
    if principal.user_id is not None:
        return str(services.store.find_user(int(principal.user_id))["handle"])
    return principal.handle or principal.label


def _known(services, labels: dict[str, str] | None) -> dict[str, list[str]] | None:
    return services.scorer().labels() if labels else None


@router.post("/moderation/decisions", status_code=201)
def decide_many(body: DecisionsCreate, principal: ModerateKey, services: Services) -> list[dict[str, Any]]:
    """The same decision on each of ``cases``, in one transaction: all are recorded, or (an unknown case,
    404) none."""
    moderator = _moderator(principal, services)
    decisions = decide_cases(services.store, body.cases, moderator, body.action, labels=body.labels, note=body.note,
                             moderator_user=principal.user_id, known_labels=_known(services, body.labels))
    services.moderation_changed([d["post_id"] for d in decisions])
    return decisions


@router.post("/moderation/cases/{case_id}/appeal", status_code=201)
def appeal(case_id: CaseId, body: AppealCreate, principal: CurrentKey, services: Services) -> dict[str, int]:
    """The author of the post appeals the decision on it. A case about someone else's post answers as a missing
    one, so its id tells a prober nothing (not even that the post was flagged)."""
    query = (
        select(posts.c.author_id)
        .join(moderation_cases, moderation_cases.c.post_id == posts.c.id)
        .where(moderation_cases.c.id == case_id)
    )
    with services.store.read() as conn:
        author = conn.execute(query).scalar()
    if author is None or (principal.user_id is not None and principal.user_id != author):
        raise HTTPException(404, f"no moderation case {case_id}")  # that a post was flagged is its author's to know
    if principal.user_id is None:
        raise HTTPException(403, "only the post's author may appeal, from their own session or key")
    return {"appeal": appeal_case(services.store, case_id, int(author), body.reason)}


@router.get("/moderation/health")
def health(_key: ModerateKey, services: Services) -> dict[str, Any]:
    """How the moderators keep up: cases waiting and how long the oldest has; over the last 30 days the cases
    decided, the median hours from flag to first decision, and the appeals resolved and overturned."""
    return queue_health(services.store)


@router.post("/moderation/redecide")
def redecide(_key: ModerateKey, services: Services) -> dict[str, Any]:
    """The policy in force applied again to every scored post's stored scores, with no model run (after an
    edit of the policy file): open cases take the action it suggests, and posts it now flags get a case.
    A post a moderator decided gets no second case."""
    policy = services.policy()
    report = redecide_posts(services.store, policy, services.scorer().labels())
    return {"community": policy.community, "posts": report.scored, "actions": report.actions,
            "new_cases": report.enqueued, "updated_cases": report.refreshed}
