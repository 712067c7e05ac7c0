"""Where the policy acts: the feed (hide, demote, label, explained) and reply suggestions.

``post_decisions`` turns stored scores into one ``Decision`` per post with the community's
policy; a moderator's latest decision on a post overrides the models, and ``first_kept`` reads them for
a ranked list only as far as a page needs. ``moderate_candidates``
applies decisions to feed candidates (anything with ``post_id`` and ``scale(factor, stage,
detail)``, such as ``townsquare.feed.candidates.Candidate``) and returns what it kept and what it
removed, each with its reasons. ``ReplySafetyCheck`` scores drafted replies and drops the ones
the policy would act on, so that townsquare never suggests what it would itself demote or hide,
and the ones with threats, incitement to self-harm, death wishes, violence wished on someone or
dehumanising language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from townsquare.safety.base import Span
from townsquare.safety.policy import SEVERITY, Decision, Policy
from townsquare.safety.registry import SafetyScorer
from townsquare.safety.rules import find_violent_speech

STAGE = "safety"


class Scalable(Protocol):
    post_id: int

    def scale(self, factor: float, stage: str, detail: str = "") -> None: ...


def post_decisions(store, post_ids: Sequence[int], policy: Policy) -> dict[int, Decision]:
    """Per post: the moderator's latest decision if any, else the policy applied to stored scores.

    Posts without stored scores get no entry (score them on ingest with ``score_posts``).
    """
    from townsquare.safety.queue import moderator_actions, stored_scores

    decisions = {pid: policy.moderator_decision(action, labels)
                 for pid, (action, labels) in moderator_actions(store, post_ids).items()}
    scored = stored_scores(store, [pid for pid in post_ids if pid not in decisions])
    decisions.update((pid, policy.decide(entry["scores"], entry["spans"])) for pid, entry in scored.items())
    return decisions


# How many posts past what a caller still needs ``first_kept`` reads at a time, in case the policy drops some.
SLACK = 25


def first_kept(store, post_ids: Sequence[int], policy: Policy, wanted: int,
               keep: Callable[[Decision | None], bool]) -> list[tuple[int, Decision | None]]:
    """The first ``wanted`` of ``post_ids``, in their order, whose decision (None: unscored) ``keep`` accepts,
    each with that decision. Decisions are read a chunk at a time, so a page of a ranked list reads the
    moderation of the posts it shows and a few more, not of every candidate."""
    kept: list[tuple[int, Decision | None]] = []
    start = 0
    while len(kept) < wanted and start < len(post_ids):
        chunk = post_ids[start:start + wanted - len(kept) + SLACK]
        decisions = post_decisions(store, chunk, policy)
        kept += [(pid, decisions.get(pid)) for pid in chunk if keep(decisions.get(pid))]
        start += len(chunk)
    return kept[:wanted]


@dataclass
class Removed:
    candidate: Any
    decision: Decision

    def explain(self) -> list[str]:
        return self.decision.explain()


def moderate_candidates(candidates: Sequence[Scalable], decisions: dict[int, Decision]) -> tuple[list, list[Removed]]:
    """Drop hidden posts, demote the rest as the policy says; (kept, removed with reasons)."""
    kept, removed = [], []
    for candidate in candidates:
        decision = decisions.get(candidate.post_id)
        if decision is None or decision.action == "allow":
            kept.append(candidate)
        elif decision.action == "hide":
            removed.append(Removed(candidate, decision))
        else:
            if decision.factor < 1.0:
                candidate.scale(decision.factor, STAGE, "; ".join(decision.explain()))
            kept.append(candidate)
    return kept, removed


@dataclass
class CheckedReply:
    text: str
    decision: Decision
    allowed: bool
    violent: list[Span] = field(default_factory=list)  # threats, incitement, death wishes, dehumanising words

    def reasons(self) -> list[str]:
        """Why it was held back, in words a user reads (empty when allowed): "offensive", "threat ('...')";
        the scores and thresholds behind them are for moderators (``decision.explain()``)."""
        if self.allowed:
            return []
        return [f"{s.kind} ('{s.text}')" for s in self.violent] + (
            list(dict.fromkeys(r.in_words for r in self.decision.reasons)) if self.decision.action != "allow" else [])


class ReplySafetyCheck:
    """Scores drafted replies; a reply is allowed when the policy's action is below ``block_at``.

    The default blocks at ``label``: a suggestion that would be labelled, demoted, reviewed or
    hidden is never offered.
    """

    def __init__(self, scorer: SafetyScorer, policy: Policy, block_at: str = "label") -> None:
        if block_at not in SEVERITY:
            raise ValueError(f"block_at must be one of {', '.join(SEVERITY)}")
        self.scorer, self.policy, self.block_at = scorer, policy, SEVERITY[block_at]

    def check(self, replies: Sequence[str]) -> list[CheckedReply]:
        """Each text with the policy's decision; held back when the policy would act on it, or when it holds
        violent speech (``rules.find_violent_speech``), which no text townsquare writes for a user may."""
        out = []
        for text, result in zip(replies, self.scorer.score(list(replies))):
            decision = self.policy.decide(result.scores, result.spans)
            violent = find_violent_speech(text)
            out.append(CheckedReply(text, decision, SEVERITY[decision.action] < self.block_at and not violent, violent))
        return out

    def allowed(self, replies: Sequence[str]) -> list[str]:
        return [r.text for r in self.check(replies) if r.allowed]
