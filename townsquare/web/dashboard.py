"""The dashboard's plots as inline SVG: feed quality from the last evaluation, engagement over
time, moderation volumes. Drawn with matplotlib on the server; no JavaScript charting."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from townsquare.storage.feed_schema import feed_rankers
from townsquare.storage.moderation_schema import moderation_cases, moderation_decisions
from townsquare.storage.schema import interactions

ENGAGEMENT = ("like", "reply", "repost", "hide", "report")


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3), dpi=100)
    return fig, fig.add_subplot()


def _svg(fig) -> str:
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _numbers(metrics: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            out.update(_numbers(value, f"{prefix}{key}."))
    elif isinstance(metrics, (int, float)) and not isinstance(metrics, bool):
        out[prefix.rstrip(".")] = float(metrics)
    return out


def quality_plot(store) -> dict[str, Any]:
    with store.read() as conn:
        row = conn.execute(
            select(feed_rankers.c.version, feed_rankers.c.metrics)
            .order_by(feed_rankers.c.version.desc())
            .limit(1)
        ).first()
    title = "Feed quality (last evaluation)"
    if row is None:
        return {
            "title": title,
            "svg": None,
            "empty": "No ranker evaluated yet: run `townsquare train ranker`.",
        }
    numbers = {k: v for k, v in _numbers(row.metrics).items() if k.endswith(("auc", "ap", "ndcg", "recall"))}
    numbers = numbers or dict(list(_numbers(row.metrics).items())[:12])
    fig, ax = _figure()
    ax.barh(list(numbers), list(numbers.values()), color="#2b6cb0")
    ax.set_xlabel(f"ranker version {row.version}")
    return {"title": title, "svg": _svg(fig), "empty": None}


def engagement_plot(store) -> dict[str, Any]:
    day = func.date(interactions.c.created_at)
    query = (
        select(day.label("day"), interactions.c.kind, func.count())
        .where(interactions.c.kind.in_(ENGAGEMENT))
        .group_by(day, interactions.c.kind)
        .order_by(day)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    title = "Engagement per day"
    if not rows:
        return {"title": title, "svg": None, "empty": "No interactions yet."}
    series: dict[str, dict[str, int]] = defaultdict(dict)
    for d, kind, n in rows:
        series[kind][str(d)] = n
    days = sorted({str(d) for d, _, _ in rows})[-60:]
    fig, ax = _figure()
    for kind in ENGAGEMENT:
        if kind in series:
            ax.plot(range(len(days)), [series[kind].get(d, 0) for d in days], label=kind)
    ax.set_xticks(
        range(0, len(days), max(1, len(days) // 6)),
        [days[i] for i in range(0, len(days), max(1, len(days) // 6))],
    )
    ax.legend(loc="upper left", fontsize="small")
    ax.set_ylabel("interactions")
    return {"title": title, "svg": _svg(fig), "empty": None}


def moderation_plot(store) -> dict[str, Any]:
    with store.read() as conn:
        cases = dict(
            conn.execute(
                select(moderation_cases.c.status, func.count()).group_by(moderation_cases.c.status)
            ).all()
        )
        decisions = dict(
            conn.execute(
                select(moderation_decisions.c.action, func.count()).group_by(moderation_decisions.c.action)
            ).all()
        )
    title = "Moderation volumes"
    if not cases and not decisions:
        return {"title": title, "svg": None, "empty": "No moderation cases yet."}
    fig, ax = _figure()
    labels = [f"case: {k}" for k in cases] + [f"decided: {k}" for k in decisions]
    ax.barh(labels, list(cases.values()) + list(decisions.values()), color="#805ad5")
    ax.set_xlabel("count")
    return {"title": title, "svg": _svg(fig), "empty": None}


def dashboard_plots(store) -> list[dict[str, Any]]:
    return [quality_plot(store), engagement_plot(store), moderation_plot(store)]
