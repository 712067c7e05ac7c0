"""Scores on ingest, the moderation queue, decisions, appeals, and decisions back as training data.

``score_posts`` classifies posts, stores their scores and opens a case for each post the policy
sends to review (or hides). Moderators list open cases, decide them (who, when, what, which
labels), users appeal, and ``export_decisions`` writes the decided labels as labelled JSONL that
``townsquare train classifier`` reads, so a platform retrains on its own moderators.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, exists, func, literal, select, update

from townsquare.errors import InputError, NotFoundError, check_writable_file
from townsquare.safety.policy import SEVERITY, USER_REPORTS, Decision, Policy
from townsquare.storage import Store
from townsquare.storage.moderation_schema import (
    moderation_appeals,
    moderation_cases,
    moderation_decisions,
    moderation_scores,
)
from townsquare.storage.schema import posts, users

if TYPE_CHECKING:
    from townsquare.safety.registry import SafetyScorer

_CHUNK = 500
REPORT_PRIORITY = 0.5  # a case opened by a user's report, below every case the policy sends to review


@dataclass
class ScoreReport:
    scored: int = 0
    enqueued: int = 0
    refreshed: int = 0  # open cases given the new scores' suggested action and reasons
    actions: dict[str, int] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def reasons_json(decision: Decision, labels: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """Reasons as stored with a case; ``rejected_label`` is what a binary classifier's flag means
    when a moderator overrules it (the other label)."""
    labels = labels or {}

    def other(classifier: str, label: str) -> str | None:
        names = labels.get(classifier, [])
        return next((n for n in names if n != label), None) if len(names) == 2 else None

    return [{"classifier": r.classifier, "label": r.label, "score": round(r.score, 4),
             "threshold": round(r.threshold, 4), "action": r.action, "factor": r.factor,
             "precision": r.precision, "spans": list(r.spans), "why": r.explain(),
             "rejected_label": other(r.classifier, r.label)} for r in decision.reasons]


def score_posts(store: Store, post_ids: Sequence[int], scorer: SafetyScorer | None = None,
                policy: Policy | None = None, batch_size: int = _CHUNK,
                progress: Callable[[int], None] | None = None) -> ScoreReport:
    """Score posts with every classifier, store the scores, enqueue what the policy flags.

    Without ``scorer`` / ``policy``: the shipped classifiers and the built-in policy (build them
    once and pass them in when calling this often). Re-scoring a post replaces its scores; a post
    with a case is not enqueued again: an open case takes the new suggested action, reasons and
    priority, a decided one stands, an appealed one keeps what its decision was made on (see
    ``_record``). ``progress`` is told how many posts each batch scored.
    """
    if scorer is None:
        from townsquare.safety.registry import SafetyScorer

        scorer = SafetyScorer.load()
    if policy is None:
        from townsquare.safety.policy import load_policy

        policy = load_policy(None, scorer.curves())
    report = ScoreReport()
    versions = scorer.versions()
    labels = scorer.labels()
    for start in range(0, len(post_ids), batch_size):
        chunk = list(post_ids[start:start + batch_size])
        with store.read() as conn:
            rows = conn.execute(select(posts.c.id, posts.c.text).where(posts.c.id.in_(chunk))).all()
        if not rows:
            continue
        results = scorer.score([text for _, text in rows])
        now = _now()
        score_rows, decisions = [], {}
        for (post_id, _), result in zip(rows, results):
            for name, probs in result.scores.items():
                score_rows.append({"post_id": post_id, "classifier": name, "version": versions[name],
                                   "scores": probs, "spans": result.spans.get(name, []),
                                   "top_score": max(probs.values()), "scored_at": now})
            decisions[post_id] = policy.decide(result.scores, result.spans)
        with store.begin() as conn:
            ids = [r[0] for r in rows]
            conn.execute(delete(moderation_scores).where(moderation_scores.c.post_id.in_(ids),
                                                         moderation_scores.c.classifier.in_(list(versions))))
            store.insert_ignore(conn, moderation_scores, score_rows)
            _record(store, conn, decisions, policy, labels, now, report)
        report.scored += len(rows)
        if progress is not None:
            progress(len(rows))
    return report


def redecide_posts(store: Store, policy: Policy, labels: dict[str, list[str]] | None = None,
                   batch_size: int = 5000) -> ScoreReport:
    """The policy applied again to every scored live post's stored scores, with no model run (after
    the policy changed): open cases take its suggested action, reasons and priority, and posts it
    now flags get a case. ``labels`` (``SafetyScorer.labels()``) name the rejected label in reasons."""
    scored = (select(posts.c.id).where(posts.c.deleted.is_(False), posts.c.id.in_(select(moderation_scores.c.post_id)))
              .order_by(posts.c.id))
    with store.read() as conn:
        ids = list(conn.execute(scored).scalars())
    report = ScoreReport()
    for start in range(0, len(ids), batch_size):
        entries = stored_scores(store, ids[start:start + batch_size])
        decisions = {post_id: policy.decide(entry["scores"], entry["spans"]) for post_id, entry in entries.items()}
        with store.begin() as conn:
            _record(store, conn, decisions, policy, labels or {}, _now(), report)
        report.scored += len(decisions)
    return report


def _record(store: Store, conn, decisions: dict[int, Decision], policy: Policy, labels: dict[str, list[str]],
            now: datetime, report: ScoreReport) -> None:
    """Count each post's action; open a case for each post the policy flags that has no case yet (a
    moderator's decision stands, and a case under appeal keeps what its decision was made on), and give
    every open case its post's new suggestion, keeping the users' reports among its reasons."""
    cases = {}
    for post_id, decision in decisions.items():
        report.actions[decision.action] = report.actions.get(decision.action, 0) + 1
        cases[post_id] = {"post_id": post_id, "community": policy.community, "status": "open",
                          "suggested_action": decision.action, "reasons": reasons_json(decision, labels),
                          "priority": max((r.score for r in decision.reasons), default=0.0)
                          + SEVERITY[decision.action], "created_at": now, "updated_at": now}
    c = moderation_cases.c
    known = conn.execute(select(c.post_id, c.id, c.status, c.reasons)
                         .where(c.post_id.in_(list(decisions)))).all()
    seen = {row.post_id for row in known}
    fresh = [cases[post] for post, decision in decisions.items() if decision.review and post not in seen]
    # a case another worker opened for the same post meanwhile stands (one open case a post)
    report.enqueued += store.insert_ignore(conn, moderation_cases, fresh)
    for row in known:
        if row.status != "open":
            continue
        case = cases[row.post_id]
        reports = [r for r in row.reasons or () if r.get("classifier") == USER_REPORTS]
        if reports:  # a user's report still asks a moderator to look
            case = {**case, "reasons": case["reasons"] + reports, "priority": max(case["priority"], REPORT_PRIORITY),
                    "suggested_action": max(case["suggested_action"], "review", key=SEVERITY.__getitem__)}
        conn.execute(update(moderation_cases).where(c.id == row.id).values(
            **{k: case[k] for k in ("suggested_action", "reasons", "priority", "updated_at")}))
        report.refreshed += 1


def stored_scores(store: Store, post_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """``{post_id: {"scores": {classifier: {label: p}}, "spans": {classifier: [...]}}}``."""
    out: dict[int, dict[str, Any]] = {}
    with store.read() as conn:
        for start in range(0, len(post_ids), 5000):
            query = select(moderation_scores).where(moderation_scores.c.post_id.in_(list(post_ids[start:start + 5000])))
            for row in conn.execute(query).mappings():
                entry = out.setdefault(row["post_id"], {"scores": {}, "spans": {}})
                entry["scores"][row["classifier"]] = row["scores"]
                if row["spans"]:
                    entry["spans"][row["classifier"]] = row["spans"]
    return out


CASE_STATUSES = {"open": ("open",), "appealed": ("appealed",), "todo": ("appealed", "open"),
                 "decided": ("decided",), "closed": ("closed",), "all": ()}


def count_cases(store: Store, classifier: str | None = None) -> dict[str, int]:
    """How many cases each status holds: ``{"open": 3, "appealed": 1, ...}`` (statuses with none left out);
    with ``classifier``, only the cases with a reason from it."""
    c = moderation_cases.c
    query = select(c.status, func.count()).group_by(c.status)
    if classifier:
        query = query.where(_has_reason_from(store, classifier))
    with store.read() as conn:
        return {status: n for status, n in conn.execute(query)}


def queue_health(store: Store, now: datetime | None = None, days: int = 30) -> dict[str, Any]:
    """How the queue keeps up: cases waiting (``open``, ``appealed``) and how long the oldest has
    (``oldest_waiting_hours``); over the last ``days``, cases decided for the first time
    (``decided``) and the median hours from flag to that decision; appeals resolved and how many of
    them overturned the decision."""
    now = now or _now()
    since = now - timedelta(days=days)
    c, d, a = moderation_cases.c, moderation_decisions.c, moderation_appeals.c
    first = select(d.case_id, func.min(d.created_at).label("at")).group_by(d.case_id).subquery()
    waiting, oldest = waiting_cases(store)
    with store.read() as conn:
        pairs = conn.execute(select(c.created_at, first.c.at).join(first, first.c.case_id == c.id)
                             .where(first.c.at >= since)).all()
        resolved = dict(conn.execute(select(a.status, func.count()).where(a.resolved_at >= since)
                                     .group_by(a.status)).all())
    hours = [(_aware(at) - _aware(flagged)).total_seconds() / 3600 for flagged, at in pairs]
    return {"open": waiting.get("open", 0), "appealed": waiting.get("appealed", 0),
            "oldest_waiting_hours": (now - oldest).total_seconds() / 3600 if oldest else None,
            "days": days, "decided": len(hours), "median_hours_to_decision": median(hours) if hours else None,
            "appeals_resolved": resolved.get("upheld", 0) + resolved.get("overturned", 0),
            "appeals_overturned": resolved.get("overturned", 0)}


def waiting_cases(store: Store) -> tuple[dict[str, int], datetime | None]:
    """Cases waiting for a moderator, ``{"open": n, "appealed": m}``, and when the oldest was flagged."""
    c = moderation_cases.c
    waiting = c.status.in_(("open", "appealed"))
    with store.read() as conn:
        counts = dict(conn.execute(select(c.status, func.count()).where(waiting).group_by(c.status)).all())
        oldest = conn.execute(select(func.min(c.created_at)).where(waiting)).scalar()
    return counts, _aware(oldest) if oldest else None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _has_reason_from(store: Store, classifier: str):
    """Cases with a reason from ``classifier`` (a classifier's name, or ``user_reports``) in their JSON reasons."""
    reasons = moderation_cases.c.reasons
    if store.dialect == "postgresql":
        reason = func.json_array_elements(reasons).table_valued("value").alias("reason")
        named = reason.c.value.op("->>")("classifier") == classifier
    else:
        reason = func.json_each(reasons).table_valued("value").alias("reason")
        named = func.json_extract(reason.c.value, "$.classifier") == classifier
    return exists(select(literal(1)).select_from(reason).where(named))


def list_cases(store: Store, status: str = "open", limit: int = 50, offset: int = 0,
               classifier: str | None = None) -> list[dict[str, Any]]:
    """Cases with their post's text and author, the suggested action and reasons: the cases to decide
    (``open``, ``appealed`` or both as ``todo``: appeals first, then the most urgent) or the history
    (``decided``, ``closed``, ``all``: the most recent first), ``limit`` of them after skipping
    ``offset``; with ``classifier``, only those with a reason from it (``user_reports``: reported).
    A case decided before also has ``decided`` (the latest action), ``decided_by`` and
    ``decided_note``, and one under appeal ``appeal_reason`` and ``appeal_by`` (the author's handle)."""
    if status not in CASE_STATUSES:
        raise InputError(f"unknown case status {status!r}; statuses: {', '.join(CASE_STATUSES)}", field="status")
    c = moderation_cases.c
    order = ((c.status == "appealed").desc(), c.priority.desc(), c.id) if status in ("open", "appealed", "todo") \
        else (c.updated_at.desc(), c.id.desc())
    query = (select(moderation_cases, posts.c.text, posts.c.external_id.label("post"), users.c.handle.label("author"))
             .join(posts, posts.c.id == c.post_id).join(users, users.c.id == posts.c.author_id)
             .order_by(*order).limit(limit).offset(offset))
    if statuses := CASE_STATUSES[status]:
        query = query.where(c.status.in_(statuses))
    if classifier:
        query = query.where(_has_reason_from(store, classifier))
    with store.read() as conn:
        cases = [dict(row) for row in conn.execute(query).mappings()]
        ids = [c["id"] for c in cases]
        d = moderation_decisions.c
        decided = {row.case_id: row for row in conn.execute(
            select(d.case_id, d.action, d.moderator, d.note)
            .where(d.case_id.in_(ids)).order_by(d.id))}  # the latest wins
        appeals = {row.case_id: row for row in conn.execute(
            select(moderation_appeals.c.case_id, moderation_appeals.c.reason, users.c.handle)
            .join(users, users.c.id == moderation_appeals.c.user_id)
            .where(moderation_appeals.c.case_id.in_(ids), moderation_appeals.c.status == "open"))}
    for case in cases:
        if (last := decided.get(case["id"])) is not None:
            case.update(decided=last.action, decided_by=last.moderator, decided_note=last.note or "")
        if (appeal := appeals.get(case["id"])) is not None:
            case.update(appeal_reason=appeal.reason, appeal_by=appeal.handle)
    return cases


def _case(conn, case_id: int) -> dict[str, Any]:
    row = conn.execute(select(moderation_cases).where(moderation_cases.c.id == case_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no moderation case {case_id}; the queue lists the cases there are")
    return dict(row)


def inferred_labels(case: dict[str, Any], action: str) -> dict[str, str]:
    """Training labels a decision implies for binary classifiers. A decision to act confirms the flags that
    asked for the case's most severe action, not every flag on it (a post hidden for its phone number is not
    thereby offensive; a moderator names other labels with ``labels``); allowing the post rejects every flag."""
    reasons = case["reasons"]
    if action == "allow":
        return {r["classifier"]: r["rejected_label"] for r in reasons if r.get("rejected_label")}
    top = max((SEVERITY.get(r.get("action"), 0) for r in reasons), default=0)
    return {r["classifier"]: r["label"] for r in reasons if SEVERITY.get(r.get("action"), 0) == top}


def decide_case(store: Store, case_id: int, moderator: str, action: str, *, labels: dict[str, str] | None = None,
                note: str = "", moderator_user: int | None = None,
                known_labels: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Record a moderator's decision on a case (and on its open appeal, if any)."""
    return decide_cases(store, [case_id], moderator, action, labels=labels, note=note,
                        moderator_user=moderator_user, known_labels=known_labels)[0]


def decide_cases(store: Store, case_ids: Sequence[int], moderator: str, action: str, *,
                 labels: dict[str, str] | None = None, note: str = "",
                 moderator_user: int | None = None,
                 known_labels: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """The same decision on each case, in one transaction: all are recorded, or (an unknown case, or with
    ``moderator_user``, the moderator's own post) none."""
    if action not in SEVERITY:
        raise InputError(f"unknown action {action!r}; actions: {', '.join(SEVERITY)}", field="action")
    if not moderator.strip():
        raise InputError("a decision needs the moderator's name", field="moderator")
    if not case_ids:
        raise InputError("no case chosen", field="cases")
    _check_labels(labels, known_labels)
    with store.begin() as conn:
        if moderator_user is not None:
            own = conn.execute(select(moderation_cases.c.id).join(posts, posts.c.id == moderation_cases.c.post_id)
                               .where(moderation_cases.c.id.in_(list(case_ids)), posts.c.author_id == moderator_user)
                               ).scalars().first()
            if own is not None:
                raise InputError(f"case {own} is about your own post: another moderator decides it", field="cases")
        return [_decide(conn, case_id, moderator.strip(), action, labels, note) for case_id in dict.fromkeys(case_ids)]


def _check_labels(labels: dict[str, str] | None, known: dict[str, list[str]] | None) -> None:
    """A moderator's training label for a classifier townsquare has must be one of its labels (a name it
    does not have may be a classifier the community is about to train, and passes)."""
    for classifier, label in (labels or {}).items():
        choices = (known or {}).get(classifier)
        if choices is not None and label not in choices:
            raise InputError(f"{label!r} is not a label of {classifier}; its labels: {', '.join(choices)}",
                             field=f"labels.{classifier}")


def _decide(conn, case_id: int, moderator: str, action: str, labels: dict[str, str] | None,
            note: str) -> dict[str, Any]:
    case = _case(conn, case_id)
    appeal = conn.execute(select(moderation_appeals).where(
        moderation_appeals.c.case_id == case_id, moderation_appeals.c.status == "open")).mappings().first()
    previous = conn.execute(select(moderation_decisions.c.action).where(
        moderation_decisions.c.case_id == case_id).order_by(moderation_decisions.c.id.desc())).scalar()
    row = {"case_id": case_id, "post_id": case["post_id"], "moderator": moderator, "action": action,
           "labels": labels if labels is not None else inferred_labels(case, action), "note": note,
           "on_appeal": appeal["id"] if appeal else None, "created_at": _now()}
    decision_id = conn.execute(moderation_decisions.insert().values(**row)).inserted_primary_key[0]
    if appeal is not None:
        conn.execute(update(moderation_appeals).where(moderation_appeals.c.id == appeal["id"]).values(
            status="upheld" if action == previous else "overturned", resolved_at=_now()))
    conn.execute(update(moderation_cases).where(moderation_cases.c.id == case_id).values(
        status="closed" if appeal is not None else "decided", updated_at=_now()))
    return {"decision": decision_id, **row, "created_at": row["created_at"].isoformat()}


def report_post(store: Store, post_ref: str | int) -> None:
    """A user's report puts the post in the moderation queue, once while a case about it is open or appealed
    (a case another worker opened for it meanwhile stands: one open case a post). The case does not name
    the reporter: its reasons reach the post's author (their export) and outlive the reporter; who
    reported is in the reporter's own interactions."""
    post = store.find_post(post_ref)
    c = moderation_cases.c
    with store.begin() as conn:
        if conn.execute(select(c.id).where(c.post_id == post["id"], c.status.in_(("open", "appealed")))).first():
            return
        reason = {"classifier": USER_REPORTS, "label": "reported", "score": 1.0, "threshold": 1.0, "action": "review",
                  "factor": 1.0, "precision": None, "spans": [], "why": "reported by a user",
                  "rejected_label": None}
        now = _now()
        store.insert_ignore(conn, moderation_cases, [{
            "post_id": post["id"], "community": "default", "status": "open", "suggested_action": "review",
            "priority": REPORT_PRIORITY, "reasons": [reason], "created_at": now, "updated_at": now}])


def appeal_case(store: Store, case_id: int, user: str | int, reason: str) -> int:
    """A user appeals the decision on a case, saying why; the case goes back to the queue as ``appealed``.
    One appeal per decision: the decision that answered an appeal is final (a moderator may still decide the
    case again, and that new decision may be appealed)."""
    if not reason.strip():
        raise InputError("an appeal needs a reason: say why the decision should change", field="reason")
    who = store.find_user(user)
    with store.begin() as conn:
        case = _case(conn, case_id)
        if case["status"] not in ("decided", "closed"):
            raise InputError(f"case {case_id} is {case['status']}: only decided cases can be appealed", field="case")
        author = conn.execute(select(posts.c.author_id).where(posts.c.id == case["post_id"])).scalar()
        if author != who["id"]:
            raise InputError(f"only the post's author may appeal case {case_id}, not {who['handle']}", field="user")
        if (answered := _answered_appeal(conn, case_id)) is not None:
            raise InputError(f"case {case_id} was appealed and a moderator answered the appeal ({answered[0]}) on "
                             f"{answered[1]:%Y-%m-%d}: a decision is appealed once", field="case")
        appeal_id = conn.execute(moderation_appeals.insert().values(
            case_id=case_id, user_id=who["id"], reason=reason, status="open", created_at=_now())).inserted_primary_key[0]
        conn.execute(update(moderation_cases).where(moderation_cases.c.id == case_id).values(
            status="appealed", updated_at=_now()))
    return int(appeal_id)


def _answered_appeal(conn, case_id: int) -> tuple[str, datetime] | None:
    """How and when the case's latest decision answered an appeal ("upheld" or "overturned"); None when it
    answered none (or there is no decision)."""
    latest = select(func.max(moderation_decisions.c.id)).where(moderation_decisions.c.case_id == case_id)
    row = conn.execute(select(moderation_appeals.c.status, moderation_decisions.c.created_at)
                       .join(moderation_decisions, moderation_decisions.c.on_appeal == moderation_appeals.c.id)
                       .where(moderation_decisions.c.id == latest.scalar_subquery())).first()
    return (row.status, row.created_at) if row is not None else None


def latest_case(store: Store, post_id: int, decided: bool = False) -> dict[str, Any] | None:
    """The post's newest case (``decided``: the newest a moderator decided, appealed or not), with
    ``appeal_open`` (whether an appeal of it awaits a moderator) and ``appeal_answered`` (how its latest
    decision answered an appeal, "upheld" or "overturned": that decision may not be appealed again; None
    when it answered none); None if it has none."""
    query = select(moderation_cases).where(moderation_cases.c.post_id == post_id)
    if decided:
        query = query.where(moderation_cases.c.status.in_(("decided", "appealed", "closed")))
    with store.read() as conn:
        case = conn.execute(query.order_by(moderation_cases.c.id.desc()).limit(1)).mappings().first()
        if case is None:
            return None
        appeal = conn.execute(select(moderation_appeals.c.id).where(
            moderation_appeals.c.case_id == case["id"], moderation_appeals.c.status == "open")).first()
        answered = _answered_appeal(conn, int(case["id"]))
    return {**case, "appeal_open": appeal is not None, "appeal_answered": answered[0] if answered else None}


def moderator_actions(store: Store, post_ids: Sequence[int]) -> dict[int, tuple[str, dict[str, str]]]:
    """The latest moderator decision per post, as (action, labels): it overrides the policy's suggestion."""
    latest = (select(moderation_decisions.c.post_id, func.max(moderation_decisions.c.id).label("id"))
              .where(moderation_decisions.c.post_id.in_(list(post_ids))).group_by(moderation_decisions.c.post_id)
              .subquery())
    query = select(moderation_decisions.c.post_id, moderation_decisions.c.action, moderation_decisions.c.labels).join(
        latest, latest.c.id == moderation_decisions.c.id)
    with store.read() as conn:
        return {post: (action, labels or {}) for post, action, labels in conn.execute(query).all()}


def export_decisions(store: Store, classifier: str, path: Path) -> int:
    """Write, as labelled JSONL, the label each post's latest decision gives ``classifier`` (a post whose
    latest decision names no label for it, such as one overturned on appeal, is left out); returns the count.
    Deleted posts, which keep no text, are left out."""
    query = (select(moderation_decisions.c.post_id, moderation_decisions.c.labels, moderation_decisions.c.moderator,
                    moderation_decisions.c.created_at, posts.c.text, posts.c.external_id)
             .join(posts, posts.c.id == moderation_decisions.c.post_id).where(posts.c.deleted.is_(False))
             .order_by(moderation_decisions.c.id))
    with store.read() as conn:
        latest = {row["post_id"]: row for row in conn.execute(query).mappings()}
    records = [{"text": row["text"], "label": row["labels"][classifier], "post": row["external_id"],
                "moderator": row["moderator"], "decided_at": row["created_at"].isoformat()}
               for row in latest.values() if classifier in (row["labels"] or {})]
    if not records:  # an empty file would only fail later, in `train classifier`
        named = sorted({name for row in latest.values() for name in (row["labels"] or {})})
        raise NotFoundError(f"no moderator decision labels {classifier!r}; nothing written to {path}. "
                            + (f"Decisions label: {', '.join(named)}." if named else "No decision labels anything yet."))
    check_writable_file(path)  # a folder given for the file: a clear error, not IsADirectoryError
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


def unscored_posts(store: Store, rescore: bool = False) -> list[int]:
    """Ids of live posts without stored scores (every live post with ``rescore``)."""
    query = select(posts.c.id).where(posts.c.deleted.is_(False) if rescore else _unscored()).order_by(posts.c.id)
    with store.read() as conn:
        return list(conn.execute(query).scalars())


def count_unscored(store: Store) -> int:
    """How many live posts have no stored scores (the feed shows them unmoderated)."""
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(posts).where(_unscored())).scalar_one())


def _unscored():
    return and_(posts.c.deleted.is_(False), posts.c.id.not_in(select(moderation_scores.c.post_id)))
