"""Explanations, read off the pipeline's own records: why an item is there, and why a post is not.

Nothing here decides anything: each sentence is rendered from a ``Reason`` a source returned,
a contribution the ranker computed, an ``Adjustment`` a scorer or selector recorded, or a
removal a filter reported. Ids become handles and external post ids for display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from townsquare.feed.candidates import LABEL_STAGE, Candidate, RankerOutput, Reason
from townsquare.feed.features import FEATURES
from townsquare.feed.store_io import fetch_rows


def first_words(text: str, limit: int = 48) -> str:
    """``text`` on one line, cut at a word boundary before ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"


@dataclass
class Names:
    """Handles of users and the stored rows of posts that explanations mention."""

    handles: dict[int, str]
    posts: dict[int, dict]
    following: frozenset[int] | None = None  # whom the viewer follows now: a page made later names no one else

    def user(self, uid: int) -> str:
        return "@" + self.handles.get(uid, f"user-{uid}")

    def post(self, pid: int) -> str:
        return self.posts.get(pid, {}).get("external_id", f"post-{pid}")

    def quote(self, pid: int, limit: int = 48) -> str:
        """A post as a reader knows it: the start of its text in quotes (its id if the text is unknown)."""
        text = first_words(self.posts.get(pid, {}).get("text", ""), limit)
        return "\u201c" + text + "\u201d" if text else self.post(pid)

    def known_posts(self, pids) -> list[int]:
        """``pids`` that still exist with their words (a deleted post, or one of a deleted user, is not named)."""
        return [p for p in pids if self.posts.get(p, {}).get("text")]

    def known_people(self, uids) -> list[int]:
        """``uids`` that still exist and, where known, the viewer still follows (reasons name only followed
        people: "posted by @ada, whom you follow", "engaged with by ... you follow")."""
        return [u for u in uids if u in self.handles and (self.following is None or u in self.following)]

    def liked(self, pids: tuple[int, ...]) -> str:
        """The first of ``pids`` quoted, and how many more (of those that still exist)."""
        pids = self.known_posts(pids)
        if not pids:
            return ""
        return self.quote(pids[0]) + (f" and {len(pids) - 1} more" if len(pids) > 1 else "")


def lookup_names(store, candidates: list[Candidate], extra_posts=(), *, viewer: int | None = None,
                 hidden: Callable[[list[int]], set[int]] | None = None,
                 following: frozenset[int] | None = None) -> Names:
    """One query for the posts (with their authors' handles), one for other people the explanations name.

    With ``viewer``, a post a reason names ("because you liked ...") is quoted only if the viewer may see it
    now: one made private since they liked it, by someone who blocks them since, or, when ``hidden`` (post ids
    -> those moderation hides) is given, one moderation hides from all but its author, is not named."""
    post_ids = {c.post_id for c in candidates} | set(extra_posts)
    named: set[int] = set()
    for c in candidates:
        for r in c.reasons:
            named.update(r.posts)
    post_ids |= named
    with store.read() as conn:
        found = fetch_rows(conn, "SELECT p.id, p.external_id, p.author_id, p.text, u.handle, p.visibility, p.deleted "
                                 "FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id IN ({ids})",
                           ids=sorted(post_ids))
        if viewer is not None and named:
            quoted = [r for r in found if r[0] in named]
            hidden_now = hidden([r[0] for r in quoted if r[2] != viewer]) if hidden is not None else set()
            not_named = (_not_for(conn, viewer, quoted) | hidden_now) - {c.post_id for c in candidates} \
                - set(extra_posts)
        else:
            not_named = set()
        rows = {r[0]: {"id": r[0], "external_id": r[1], "author_id": r[2], "text": r[3]} for r in found
                if r[0] not in not_named}
        handles = {r[2]: r[4] for r in found}
        people = {p for c in candidates for r in c.reasons for p in r.people} - set(handles)
        if people:
            handles.update(fetch_rows(conn, "SELECT id, handle FROM users WHERE id IN ({ids})", ids=sorted(people)))
    return Names(handles, rows, following)


def _not_for(conn, viewer: int, found: list) -> set[int]:
    """Of the posts ``found`` (id, ..., author, ..., visibility, deleted), those ``viewer`` may not see now
    (``storage.visibility.may_see``'s rule, read from the rows at hand: one query on edges, a second only
    for followers-only posts). The whole ``may_see`` condition cost 1 ms a page; this, a tenth of that."""
    others = {r[2] for r in found if r[2] != viewer}
    shunned, follows = set(), set()
    if others:
        for source, target, kind in fetch_rows(
                conn, "SELECT source_id, target_id, kind FROM edges WHERE (source_id = :viewer AND target_id IN ({ids}) "
                      "AND kind IN ('block', 'mute', 'follow')) OR (target_id = :viewer AND source_id IN ({ids}) "
                      "AND kind = 'block')", {"viewer": viewer}, ids=sorted(others)):
            other = target if source == viewer else source
            (follows if kind == "follow" else shunned).add(other)
    return {r[0] for r in found
            if r[6] or (r[2] != viewer and (r[2] in shunned or r[5] == "private"
                                             or (r[5] == "followers" and r[2] not in follows)))}


def summarise(reason: Reason, names: Names) -> str | None:
    """One sentence for one reason; None when it no longer holds (the people it named were deleted or are not
    followed now: a later page of a feed made before)."""
    people = [names.user(p) for p in names.known_people(reason.people)]
    liked = names.liked(reason.posts)
    match reason.source:
        case "in_network":
            if reason.people and not people:
                return None
            verb = "reposted" if reason.detail.startswith("reposted") else "posted"
            return f"{verb} by {people[0] if people else 'someone'}, whom you follow"
        case "social_proof":
            if not people:
                return None
            n = len(people)
            shown = ", ".join(people[:3]) + (" and others" if n > 3 else "")
            return f"engaged with by {n} {'person' if n == 1 else 'people'} you follow: {shown}"
        case "interest_similarity":
            return f"close to your {reason.detail}" + (f" (like {liked}, which you liked)" if liked else "")
        case "item_item":
            return f"because you liked {liked}" if liked else "co-engaged with posts you liked"
        case "factorisation":
            return "liked by people whose likes resemble yours" + (f" (you liked {liked})" if liked else "")
        case "trending":
            return "trending now"
        case "fresh":
            return "just posted"
        case _:
            return reason.detail or reason.source


def predicted(c: Candidate, output: RankerOutput | None) -> dict[str, float]:
    return {} if output is None else output.predicted(c.row)


def top_features(c: Candidate, output: RankerOutput | None) -> list[dict]:
    if output is None:
        return []
    return [{"feature": FEATURES[j], "contribution": v} for j, v in output.strongest(c.row)]


# An item whose every reason stopped holding since its feed was ranked (an unfollow, a deletion) still says why.
_STALE = "chosen for you when this feed was made; the people it named are no longer in it"


def because(c: Candidate, names: Names) -> list[str]:
    """The sentences of ``c``'s reasons that still hold."""
    said = [s for r in c.reasons if r.source != "probe" and (s := summarise(r, names)) is not None]
    return said or [_STALE]


def explain_item(c: Candidate, names: Names, position: int, created_at: str | None = None,
                 output: RankerOutput | None = None) -> dict:
    """Everything the pipeline recorded about one served item (``output``: its ranking run's ``RankerOutput``)."""
    row = names.posts.get(c.post_id, {})
    return {
        "position": position,
        "post": names.post(c.post_id),
        "author": names.user(c.author_id),
        "text": row.get("text", ""),
        "created_at": created_at,
        "score": round(c.score, 5),
        "in_network": c.in_network,
        "because": because(c, names),
        "sources": [{**r.as_dict(), "people": [names.user(p) for p in names.known_people(r.people)],
                     "posts": [names.post(p) for p in names.known_posts(r.posts)]}
                    for r in c.reasons if r.source != "probe"],
        "predicted": predicted(c, output),
        "top_features": top_features(c, output),
        "adjustments": [a.as_dict() for a in c.adjustments or ()],
    }


# Filters that remove a post the user may not see: its text stays out of their why-not report.
_NOT_FOR_THEM = {"deleted_posts", "blocked_authors", "moderation"}


def why_not_report(post: dict, ranking, page_items: list[Candidate], limit: int, names: Names) -> dict:
    """Why ``post`` is not (or is) on the user's first page, from one ranking run that followed it.
    The text of a post they may not see (private, deleted, by someone blocked, hidden by moderation) is
    left out: a why-not is not a way to read it."""
    pid, output = post["id"], ranking.ranker_output
    out = {"post": post["external_id"], "author": names.user(post["author_id"]), "text": post["text"],
           "sources_run": [{"source": o.name, "proposed": o.proposed, "error": o.error} for o in ranking.outcomes]}
    probe = ranking.probe
    proposed = [r for r in probe.reasons if r.source != "probe"] if probe is not None else []
    out["proposed_by"] = [s for r in proposed if (s := summarise(r, names)) is not None]
    removed = ranking.removals()
    if pid in removed:
        stage, why = removed[pid]
        out.update(verdict=f"removed by the {stage} filter: {why}", removed_by={"filter": stage, "why": why})
        if stage in _NOT_FOR_THEM:
            out["text"] = None
        return out
    position = next((i for i, c in enumerate(page_items[:limit]) if c.post_id == pid), None)
    out.update(rank=None if ranking.probe_rank is None else ranking.probe_rank + 1, ranked=ranking.ranked,
               score=round(probe.score, 5), predicted=predicted(probe, output),
               top_features=top_features(probe, output),
               adjustments=[a.as_dict() for a in probe.adjustments or ()])
    cut = page_items[min(limit, len(page_items)) - 1].score if page_items else None
    out["lowest_score_on_page"] = None if cut is None else round(cut, 5)
    if position is not None:
        out["verdict"] = f"it is on your first page, at place {position + 1}"
    elif not proposed:
        out["verdict"] = (f"no source proposed it; scored anyway it would rank {out['rank']} of "
                          f"{ranking.ranked}")
    else:
        moved = [a["detail"] for a in out["adjustments"] if a["stage"] not in ("engagement", LABEL_STAGE)]
        out["verdict"] = (f"ranked {out['rank']} of {ranking.ranked}, below the {limit} posts of your first page"
                          + (f" ({'; '.join(moved)})" if moved else ""))
    return out
