"""Train the engagement ranker from the logged interactions (``townsquare train ranker``).

Time split, so no feature sees its own label: the index is rebuilt as it was at a cutoff (the
``split`` quantile of interaction times); every (user, post) pair with an interaction after the
cutoff is an impression, plus sampled posts the user never touched as negatives; its labels
are the kinds that happened. Features come from the same hydrators the feed serves with,
computed as of the cutoff (the post's age as of the impression). The last fifth of the window,
by time, is held out for AUC and log loss per head, next to the untrained prior's; a trained
head that ranks those later examples worse than the prior is not served (the prior's head is
kept, and ``trained_auc`` records what the trained one reached), and a head that ranks them worse
than chance, trained or prior, is made flat: it predicts the base rate and ranks nothing (``flat``).
Held-out examples judge a head only when they hold at least ten positives.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import text

from townsquare.errors import NotFoundError
from townsquare.feed.collaborative import CollaborativeModels
from townsquare.feed.config import FeedConfig
from townsquare.feed.context import FeedEnv, build_context
from townsquare.feed.features import FEATURES, Batch, hydrate
from townsquare.feed.index import KIND, KINDS, FeedIndex
from townsquare.feed.ranker import HEADS, EngagementModel, RankerRegistry
from townsquare.feed.state import InterestBook
from townsquare.feed.steering import SteeringBook
from townsquare.feed.store_io import epoch_sql, fetch_arrays
from townsquare.storage.schema import users

log = logging.getLogger(__name__)

_AGE = FEATURES.index("post_age_hours")


@dataclass
class TrainingData:
    x: np.ndarray
    y: np.ndarray  # (examples, heads) 0/1
    at: np.ndarray  # impression time, for the held-out split
    cutoff: float
    users: int = 0


@dataclass
class TrainReport:
    version: int | None
    examples: int
    users: int
    cutoff: str
    seconds: float
    heads: dict[str, dict] = field(default_factory=dict)


def _window(store, split: float) -> tuple[float, float]:
    """The cutoff (``split`` quantile of interaction times) and the newest interaction time."""
    with store.read() as conn:
        n = conn.execute(text("SELECT count(*) FROM interactions")).scalar_one()
        if n < 50:
            raise NotFoundError(f"only {n} interactions logged; the ranker needs at least 50 to learn from")
        epoch = epoch_sql(store, "created_at")
        cut = conn.execute(text(f"SELECT {epoch} FROM interactions ORDER BY created_at LIMIT 1 OFFSET :k"),
                           {"k": int(n * split)}).scalar_one()
        end = conn.execute(text(f"SELECT max({epoch}) FROM interactions")).scalar_one()
    return float(cut), float(end)


def collect(store, model: str | None, *, split: float = 0.8, max_users: int = 5000, negatives: int = 10,
            seed: int = 0) -> TrainingData:
    """Features and labels of impressions after the cutoff, with features as of the cutoff: the collaborative
    models too (``factor_score``) are trained on the interactions before it, so that none knows the answers."""
    cutoff, end = _window(store, split)
    until = datetime.fromtimestamp(cutoff, UTC)
    index = FeedIndex.load(store, model, until=until)
    try:
        index.collaborative = CollaborativeModels.train(index)
    except NotFoundError:  # no post liked by two people before the cutoff: factor_score is 0 throughout
        log.info("ranker training: no collaborative models at the cutoff; factor_score is 0")
    env = FeedEnv(store, index, FeedConfig(), InterestBook(store, index, persist=False), SteeringBook(store), None)
    case = " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(KINDS))
    with store.read() as conn:
        user, post, kind, at = fetch_arrays(conn, text(
            f"SELECT user_id, post_id, CASE kind {case} END, {epoch_sql(store, 'created_at')} FROM interactions "
            f"WHERE {epoch_sql(store, 'created_at')} >= :cut"), {"cut": cutoff}, 4)
        rows = {r["id"]: dict(r) for r in conn.execute(users.select()).mappings()}
    user, post, kind = user.astype(np.int64), post.astype(np.int64), kind.astype(np.int64)
    rng = np.random.default_rng(seed)
    chosen = np.unique(user)
    chosen = rng.choice(chosen, min(max_users, len(chosen)), replace=False)
    recent = np.nonzero((index.post_time[: index.max_post + 1] >= cutoff - 7 * 86400)
                        & (index.post_author[: index.max_post + 1] >= 0))[0]
    xs, ys, ats = [], [], []
    for uid in chosen.tolist():
        mine = user == uid
        pairs, y, first = _labels(post[mine], kind[mine], at[mine])
        extra = np.setdiff1d(recent[rng.integers(0, len(recent), negatives)], pairs) \
            if len(recent) else np.zeros(0, np.int64)
        posts = np.concatenate([pairs, extra])
        ctx = build_context(env, rows[uid], cutoff, until=until)
        batch = Batch.of(ctx, posts)
        x = hydrate(ctx, batch)
        when = np.concatenate([first, rng.uniform(cutoff, end, len(extra))])
        x[:, _AGE] = np.log1p(np.maximum(when - index.post_time[posts], 0) / 3600)
        xs.append(x)
        ys.append(np.vstack([y, np.zeros((len(extra), len(HEADS)))]))
        ats.append(when)
    return TrainingData(np.vstack(xs), np.vstack(ys), np.concatenate(ats), cutoff, len(chosen))


def _labels(post: np.ndarray, kind: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per post the user touched: which heads happened, and when the first touch was."""
    pairs, inverse = np.unique(post, return_inverse=True)
    y = np.zeros((len(pairs), len(HEADS)))
    for h, head in enumerate(HEADS):
        hit = kind == KIND[head]
        y[inverse[hit], h] = 1.0
    first = np.full(len(pairs), np.inf)
    np.minimum.at(first, inverse, at)
    return pairs, y, first


def fit(data: TrainingData, *, min_positives: int = 20, min_held_out: int = 10,
        c: float = 1.0) -> tuple[EngagementModel, dict]:
    """One logistic head per kind on the earlier 80% of impressions; metrics on the later 20%, where they hold
    ``min_held_out`` positives and negatives (an AUC from fewer is noise, and decides nothing)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score

    order = np.argsort(data.at, kind="stable")
    split = int(len(order) * 0.8)
    train, held = order[:split], order[split:]
    mean, scale = data.x[train].mean(axis=0), data.x[train].std(axis=0) + 1e-9
    z = (data.x - mean) / scale
    prior = EngagementModel.prior()
    model = EngagementModel(FEATURES, HEADS, mean, scale, prior.coef * scale, prior.intercept + prior.coef @ mean,
                            {"kind": "logistic", "cutoff": data.cutoff, "examples": len(data.x)})
    metrics = {}
    x_held = data.x[held]
    prior_p = prior.predict(x_held)  # every head's, once
    for h, head in enumerate(HEADS):
        y = data.y[:, h]
        info = {"positives": int(y[train].sum()), "held_out_positives": int(y[held].sum()), "trained": False}
        kept = model.coef[h].copy(), model.intercept[h]  # the prior's head, in standardised terms
        if y[train].sum() >= min_positives and (1 - y[train]).sum() >= min_positives:
            head_model = LogisticRegression(C=c, max_iter=500).fit(z[train], y[train])
            model.coef[h], model.intercept[h] = head_model.coef_[0], head_model.intercept_[0]
            info["trained"] = True
        if min_held_out <= y[held].sum() < len(held) - min_held_out:
            p = model.predict(x_held)[:, h]
            auc, prior_auc = float(roc_auc_score(y[held], p)), float(roc_auc_score(y[held], prior_p[:, h]))
            if info["trained"] and auc < prior_auc:  # it learnt noise: the prior ranks the later examples better
                model.coef[h], model.intercept[h] = kept
                info.update(trained=False, trained_auc=round(auc, 4))
                auc = prior_auc
            if auc < 0.5:  # worse than chance on the later examples: rank nothing, predict the base rate
                rate = float(np.clip(y[train].mean(), 1e-4, 1 - 1e-4))
                model.coef[h], model.intercept[h] = 0.0, np.log(rate / (1 - rate))
                info.update(trained=False, flat=True, flat_from_auc=round(auc, 4))
                auc = 0.5
            p = model.predict(x_held)[:, h]
            info.update(auc=round(auc, 4), log_loss=round(float(log_loss(y[held], p, labels=[0, 1])), 4),
                        prior_auc=round(prior_auc, 4))
        metrics[head] = info
    return model, metrics


def train_ranker(store, model: str | None, *, publish: bool = True, **options) -> TrainReport:
    """Collect, fit, and (``publish``) store a new served version."""
    start = time.perf_counter()
    fit_options = {k: options.pop(k) for k in ("min_positives", "min_held_out", "c") if k in options}
    data = collect(store, model, **options)
    engagement, metrics = fit(data, **fit_options)
    version = RankerRegistry(store).publish(engagement, metrics) if publish else None
    return TrainReport(version, len(data.x), data.users, datetime.fromtimestamp(data.cutoff, UTC).isoformat(),
                       round(time.perf_counter() - start, 2), metrics)
