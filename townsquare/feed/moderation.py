"""``PolicyModeration``: trust & safety's stored scores, policy and moderators' decisions as feed verdicts.

The feed's moderation filter and scorer only need ``verdicts(post_ids)`` (``ModerationProvider``);
this adapter answers it from ``townsquare.safety``: a moderator's latest decision on a post wins,
otherwise the policy decides from the classifier scores stored for it. Unscored posts are allowed.
"""

from __future__ import annotations

from townsquare.feed.filters import ModerationVerdict


class PolicyModeration:
    """A ``ModerationProvider`` over the moderation tables and a ``townsquare.safety`` ``Policy``."""

    def __init__(self, store, policy) -> None:
        self.store, self.policy = store, policy

    def verdicts(self, post_ids: list[int]) -> dict[int, ModerationVerdict]:
        from townsquare.safety.queue import moderator_actions, stored_scores

        decided = moderator_actions(self.store, post_ids)
        scored = stored_scores(self.store, [p for p in post_ids if p not in decided])
        out: dict[int, ModerationVerdict] = {}
        for post, action in decided.items():
            if action in ("hide", "demote"):
                factor = 0.5 if action == "demote" else 0.0
                out[post] = ModerationVerdict(action, factor, (f"a moderator decided: {action}",))
        for post, entry in scored.items():
            decision = self.policy.decide(entry["scores"], entry.get("spans"))
            if decision.action in ("hide", "demote"):
                out[post] = ModerationVerdict(decision.action, decision.factor, tuple(decision.explain()))
        return out
