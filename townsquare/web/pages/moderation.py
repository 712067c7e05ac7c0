"""The moderators' pages (the queue, with the personal data marked, their decisions, the history) and
the dashboard."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from townsquare.safety.base import CLASSIFIER_NAME
from townsquare.safety.policy import USER_REPORTS
from townsquare.safety.queue import (
    CASE_STATUSES,
    count_cases,
    decide_cases,
    list_cases,
    queue_health,
    redecide_posts,
)
from townsquare.web.dashboard import dashboard_plots
from townsquare.web.deps import Services
from townsquare.web.pages.base import Moderator, Viewer, render

router = APIRouter()


PAGE = 50
TABS = {"todo": "To decide", "decided": "Decided", "closed": "Closed after appeal"}


REASON = f"^{CLASSIFIER_NAME.pattern}$"  # a classifier's name as ``train classifier`` gives it, or user_reports


def queue_url(show: str = "todo", page: int = 1, reason: str | None = None) -> str:
    """The queue page with these settings (the defaults left out)."""
    query = urlencode({k: v for k, v in (("show", show), ("page", page), ("reason", reason))
                       if v not in ("todo", 1, None)})
    return "/moderation" + (f"?{query}" if query else "")


@router.get("/moderation")
def moderation_page(
    request: Request,
    services: Services,
    viewer: Moderator,
    show: Annotated[Literal["todo", "decided", "closed"], Query()] = "todo",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    reason: Annotated[str | None, Query(pattern=REASON)] = None,
) -> Response:
    """The cases to decide (appeals first, then the most urgent), or the history: decided cases, and
    closed ones (decided again after an appeal), most recent first; ``PAGE`` cases a page; with
    ``reason``, only the cases one classifier flagged (``user_reports``: the reported ones)."""
    counts = count_cases(services.store, reason)
    tabs = [(key, name, sum(counts.get(s, 0) for s in CASE_STATUSES[key])) for key, name in TABS.items()]
    total = next(n for key, _, n in tabs if key == show)
    cases = list_cases(services.store, status=show, limit=PAGE, offset=(page - 1) * PAGE, classifier=reason)
    for case in cases:
        case["parts"] = marked(case["text"], [s for r in case["reasons"] for s in r.get("spans") or ()])
    reasons = [*dict.fromkeys(rule["classifier"] for rule in services.policy().describe()), USER_REPORTS]
    return render(request, "moderation.html", viewer, cases=cases, show=show, tabs=tabs, total=total,
                  page=page, first=(page - 1) * PAGE + 1, pages=max(1, -(-total // PAGE)), reason=reason,
                  reasons=reasons, queue_url=queue_url, health=queue_health(services.store), duration=duration)


def duration(hours: float) -> str:
    """``hours`` in the unit a person reads best: "40 min", "7.5 h", "3 days"."""
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.0f} days"


def marked(text: str, spans: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """``text`` cut into (part, kind) pieces, kind None between the spans a classifier found, so a page
    can mark them. Spans that overlap an earlier one, or no longer match the text (edited since it was
    scored), are left unmarked."""
    parts: list[tuple[str, str | None]] = []
    at = 0
    for span in sorted(spans, key=lambda s: (s["start"], -s["end"])):
        start, end = span["start"], span["end"]
        if start < at or end > len(text) or start >= end or text[start:end] != span.get("text", text[start:end]):
            continue
        parts += [(text[at:start], None)] if start > at else []
        parts.append((text[start:end], span["kind"]))
        at = end
    return parts + ([(text[at:], None)] if at < len(text) else [])


class DecisionForm(BaseModel):
    """A decision from the queue page: on the case of the form it came from, or on every ticked ``case``."""

    action: str = Field(max_length=16)
    note: str = Field("", max_length=2000)
    case: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(default_factory=list, max_length=PAGE)
    show: Literal["todo", "decided", "closed"] = "todo"  # the page of the queue to go back to
    page: int = Field(1, ge=1, le=100_000)
    reason: str | None = Field(None, pattern=REASON)


@router.post("/moderation")
def moderate_many(request: Request, services: Services, viewer: Moderator,
                  form: Annotated[DecisionForm, Form()]) -> Response:
    """The same decision on every case ticked on the page, all or none."""
    return _decide(request, services, viewer, form.case, form)


@router.post("/moderation/{case_id}")
def moderate(request: Request, services: Services, viewer: Moderator,
             case_id: Annotated[int, Path(ge=1, le=2**62)], form: Annotated[DecisionForm, Form()]) -> Response:
    return _decide(request, services, viewer, [case_id], form)


def _decide(request: Request, services, viewer, cases: list[int], form: DecisionForm) -> Response:
    """Record the decision on ``cases``, then back to the page of the queue it was made on."""
    if not cases:
        return render(request, "error.html", viewer, 422, message="Tick the cases to decide first.")
    decisions = decide_cases(services.store, cases, viewer.handle or "moderator", form.action, note=form.note,
                             moderator_user=viewer.user_id)
    services.moderation_changed([d["post_id"] for d in decisions])
    return RedirectResponse(queue_url(form.show, form.page, form.reason), status_code=303)


@router.get("/moderation/policy")
def policy_page(
    request: Request,
    services: Services,
    viewer: Moderator,
    new: Annotated[int | None, Query(ge=0)] = None,
    updated: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The community's policy in force: each rule, the threshold chosen for it and the precision that
    gives; why the last edit of the policy file was not taken, if it was not; and (``new``, ``updated``)
    what applying it to the queue just did."""
    policy = services.policy()
    applied = {"new": new, "updated": updated} if new is not None and updated is not None else None
    return render(request, "policy.html", viewer, policy=policy, rules=policy.describe(),
                  error=services.policy_error(), applied=applied)


@router.post("/moderation/policy/apply")
def apply_policy(services: Services, viewer: Moderator) -> Response:
    """The policy in force applied to the queue from the stored scores (``redecide_posts``)."""
    report = redecide_posts(services.store, services.policy(), services.scorer().labels())
    return RedirectResponse(f"/moderation/policy?new={report.enqueued}&updated={report.refreshed}", status_code=303)


@router.get("/dashboard")
def dashboard(request: Request, services: Services, viewer: Viewer) -> Response:
    return render(request, "dashboard.html", viewer, plots=dashboard_plots(services.store))
