"""The dashboard's plots as inline SVG: feed quality from the last evaluation, engagement over
time, moderation volumes. Drawn with matplotlib on the server; no JavaScript charting."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
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
    numbers = _numbers(row.metrics)
    heads = [k.removesuffix(".auc") for k in numbers if k.endswith(".auc")]
    fig, ax = _figure()
    if heads:  # each engagement head's held-out AUC, beside the untrained prior's on the same examples
        at = np.arange(len(heads))
        ax.barh(at - 0.2, [numbers[f"{h}.auc"] for h in heads], 0.4, color="#2b6cb0", label="this ranker")
        ax.barh(at + 0.2, [numbers.get(f"{h}.prior_auc", np.nan) for h in heads], 0.4, color="#a0aec0",
                label="untrained prior")
        ax.set_yticks(at, heads)
        ax.invert_yaxis()
        ax.axvline(0.5, color="#718096", linewidth=0.8, linestyle=":")  # chance
        ax.set_xlim(0, 1)
        ax.legend(loc="lower right", fontsize="small")
        ax.set_xlabel(f"held-out AUC, ranker version {row.version} (0.5: chance)")
    else:
        shown = dict(list(numbers.items())[:12])
        ax.barh(list(shown), list(shown.values()), color="#2b6cb0")
        ax.set_xlabel(f"ranker version {row.version}")
    return {"title": title, "svg": _svg(fig), "empty": None}


def daily_counts(rows, window: int = 60) -> tuple[list[date], dict[str, list[int]]]:
    """(day, kind, count) rows as one count per calendar day and kind, over the last ``window``
    days that have any (a quiet day counts 0 rather than vanishing from the axis)."""
    by_kind: dict[str, dict[date, int]] = defaultdict(dict)
    for day, kind, n in rows:
        by_kind[kind][date.fromisoformat(str(day))] = n
    seen = sorted({d for counts in by_kind.values() for d in counts})
    first = max(seen[0], seen[-1] - timedelta(days=window - 1))
    days = [first + timedelta(days=i) for i in range((seen[-1] - first).days + 1)]
    return days, {kind: [counts.get(d, 0) for d in days] for kind, counts in by_kind.items()}


def engagement_plot(store) -> dict[str, Any]:
    day = func.date(interactions.c.created_at)
    ahead = datetime.now(UTC) + timedelta(days=1)  # a clock gone wrong elsewhere must not stretch the axis
    query = (
        select(day.label("day"), interactions.c.kind, func.count())
        .where(interactions.c.kind.in_(ENGAGEMENT), interactions.c.created_at <= ahead)
        .group_by(day, interactions.c.kind)
        .order_by(day)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    title = "Engagement per day"
    if not rows:
        return {"title": title, "svg": None, "empty": "No interactions yet."}
    from matplotlib.dates import AutoDateLocator, DateFormatter

    days, series = daily_counts(rows)
    fig, ax = _figure()
    for kind in ENGAGEMENT:
        if kind in series:
            ax.plot(days, series[kind], label=kind)
    ax.xaxis.set_major_locator(AutoDateLocator(maxticks=7))
    ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
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
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure()
    labels = [f"case: {k}" for k in cases] + [f"decided: {k}" for k in decisions]
    ax.barh(labels, list(cases.values()) + list(decisions.values()), color="#805ad5")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("count")
    return {"title": title, "svg": _svg(fig), "empty": None}


def dashboard_plots(store) -> list[dict[str, Any]]:
    return [quality_plot(store), engagement_plot(store), moderation_plot(store)]
