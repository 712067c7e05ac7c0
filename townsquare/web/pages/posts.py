"""One post and its thread, and the rule for which posts a viewer may see on these pages.

The author of a post moderation hides still sees it, told why, and may appeal a moderator's decision.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy import or_, select

from townsquare.errors import TownsquareError
from townsquare.feed.explain import first_words
from townsquare.safety.queue import appeal_case, latest_case
from townsquare.storage.schema import posts, users
from townsquare.storage.visibility import may_see
from townsquare.web.auth import Principal
from townsquare.web.deps import Services
from townsquare.web.pages.base import ACTIONS, Viewer, not_shown, render, shown_notice, with_notice

router = APIRouter()


def visible(services, conn, user_id: int, where, limit: int | None = None,
            moderator: bool = False, newest_first: bool = False) -> list[dict[str, Any]]:
    """The posts matching ``where`` that ``user_id`` may see, oldest first (or ``newest_first``), with their
    authors' handles:
    ``townsquare.storage.visibility``'s rule, and nothing moderation hides from the feed except the
    viewer's own posts and, for a ``moderator``, every post: those are marked ``hidden`` (an author is
    told why, ``post_page``)."""
    query = (select(posts.c.id, posts.c.external_id, posts.c.text, posts.c.created_at, posts.c.reply_to_id,
                    posts.c.author_id, users.c.handle)
             .join(users, users.c.id == posts.c.author_id)
             .where(where, may_see(user_id), posts.c.repost_of_id.is_(None))
             .order_by(*((posts.c.created_at.desc(), posts.c.id.desc()) if newest_first else
                         (posts.c.created_at, posts.c.id))).limit(limit))
    rows = [dict(r) for r in conn.execute(query).mappings()]
    moderation = getattr(services.feed.env, "moderation", None)
    if moderation is not None and rows:
        verdicts = moderation.verdicts([r["id"] for r in rows])
        for r in rows:
            r["hidden"] = getattr(verdicts.get(r["id"]), "action", "allow") == "hide"
            r["labels"] = getattr(verdicts.get(r["id"]), "labels", ())
        rows = [r for r in rows if not r["hidden"] or moderator or r["author_id"] == user_id]
    return rows


def shown_post(services, viewer: Principal, ref: str) -> dict[str, Any] | None:
    """The post ``ref`` if ``viewer`` may see it (``visible``), else None: what the pages that act on a
    post (reply, like, report...) check first, so none shows or touches a post its viewer may not see."""
    with services.store.read() as conn:
        rows = visible(services, conn, viewer.user_id, posts.c.external_id == ref, limit=1,
                       moderator="moderate" in viewer.scopes)
    return rows[0] if rows else None


def replied_to(services, user_id: int, post_ids: list[str]) -> dict[str, dict[str, str | None]]:
    """For each of ``post_ids`` that answers another post: the parent's author, first words and id (all
    None when ``user_id`` may not see the parent, ``visible``), so a reply is never shown without context."""
    if not post_ids:
        return {}
    with services.store.read() as conn:
        links = dict(conn.execute(select(posts.c.external_id, posts.c.reply_to_id)
                                  .where(posts.c.external_id.in_(post_ids), posts.c.reply_to_id.is_not(None))).all())
        parents = {r["id"]: r for r in visible(services, conn, user_id, posts.c.id.in_(set(links.values())))}
    hidden = {"author": None, "text": None, "post": None}
    return {child: {"author": "@" + p["handle"], "text": first_words(p["text"], 60), "post": p["external_id"]}
            if (p := parents.get(parent)) else hidden for child, parent in links.items()}


def visible_thread(services, user_id: int, ref: str, max_replies: int = 200,
                   moderator: bool = False) -> dict[str, Any] | None:
    """The post ``ref``, the post it answers and its first replies, each only if ``user_id`` may see it
    (``visible``). None when the post itself is not visible."""
    with services.store.read() as conn:
        target = conn.execute(select(posts.c.id, posts.c.reply_to_id).where(posts.c.external_id == ref)).first()
        if target is None:
            return None
        around = [posts.c.id == target.id, posts.c.reply_to_id == target.id]
        if target.reply_to_id is not None:
            around.append(posts.c.id == target.reply_to_id)
        rows = visible(services, conn, user_id, or_(*around), limit=max_replies + 2, moderator=moderator)
    post = next((r for r in rows if r["id"] == target.id), None)
    if post is None:
        return None
    parent = next((r for r in rows if r["id"] == target.reply_to_id), None)
    return {"post": post, "parent": parent, "parent_not_shown": target.reply_to_id is not None and parent is None,
            "replies": [r for r in rows if r["reply_to_id"] == target.id]}


@router.get("/posts/{ref:path}")  # :path: ids such as Bluesky's at:// URIs hold "/"
def post_page(
    request: Request,
    services: Services,
    viewer: Viewer,
    ref: Annotated[str, Path(min_length=1, max_length=256)],
) -> Response:
    """One post with the post it answers and its replies: the assistant's citations link here."""
    thread = visible_thread(services, viewer.user_id, ref, moderator="moderate" in viewer.scopes)
    if thread is None:
        return not_shown(request, viewer)
    post = thread["post"]
    statement = None
    if post.get("hidden") and post["author_id"] == viewer.user_id:
        statement = _hidden_statement(services, post)
    elif post.get("hidden"):  # a moderator looking at the thread
        statement = {"why": "Moderation hides it from everyone else.", "case": None, "author": False}
    return render(request, "post.html", viewer, actions=ACTIONS, statement=statement, notice=shown_notice(request),
                  **thread)


def _hidden_statement(services, post: dict[str, Any]) -> dict[str, Any]:
    """What the author of a hidden post is told: why, and whether they may appeal (a moderator's decision)."""
    case = latest_case(services.store, post["id"], decided=True)
    if case is None:  # the policy hid it; no moderator has looked yet
        why = in_words(services, post["id"], "It is hidden from others until a moderator looks at it")[1]
        return {"why": why, "case": None, "author": True}
    if case["appeal_open"]:
        return {"why": "Your appeal is with the moderators.", "case": None, "author": True}
    if case["appeal_answered"]:  # one appeal per decision: no form again
        return {"why": f"A moderator decided your appeal on {case['updated_at']:%Y-%m-%d}: it stays hidden. A "
                "decision is appealed once.", "case": None, "author": True}
    return {"why": f"A moderator hid it on {case['updated_at']:%Y-%m-%d}. If you think that was wrong, you can "
            "appeal.", "case": case["id"], "author": True}


@router.post("/posts/{ref:path}/appeal")
def appeal(
    request: Request,
    services: Services,
    viewer: Viewer,
    ref: Annotated[str, Path(min_length=1, max_length=256)],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    """The author of a post a moderator hid asks for another look."""
    thread = visible_thread(services, viewer.user_id, ref)
    post = thread["post"] if thread else None
    case = latest_case(services.store, int(post["id"]), decided=True) if post else None
    if post is None or post["author_id"] != viewer.user_id or case is None:
        return render(request, "error.html", viewer, 403, message="Only the author of a post a moderator "
                      "decided on may appeal it.")
    try:
        appeal_case(services.store, int(case["id"]), viewer.user_id, reason)
    except TownsquareError as exc:  # e.g. no moderator has decided yet
        return with_notice(request, f"/posts/{quote(ref)}", str(exc))
    return with_notice(request, f"/posts/{quote(ref)}", "Appeal sent: a moderator will look at your post again")


# What the author is told when the policy acts on their new post (a statement of reasons).
_POSTED = {"label": "Posted, with a label", "demote": "Posted, and shown to fewer people",
           "review": "Posted; a moderator will look at it", "hide": "Posted, but hidden from others until a "
           "moderator looks at it"}


def in_words(services, post_id: int, opening: str | None) -> tuple[str, str]:
    """What moderation does with a post and why, in words ("...: personal data (email, phone)."), opened
    by ``opening`` or by the action's own words (``_POSTED``); "Posted" when it does nothing."""
    from townsquare.safety import post_decisions

    try:
        decision = post_decisions(services.store, [post_id], services.policy()).get(post_id)
    except TownsquareError:
        decision = None
    if decision is None or decision.action not in _POSTED:
        return "allow", opening + "." if opening else "Posted"
    why = []
    for reason in decision.reasons:
        kinds = sorted({s["kind"].replace("_", " ") for s in reason.spans})
        words = reason.label_words + (f" ({', '.join(kinds)})" if kinds else "")
        why += [words] if words not in why else []
    return decision.action, f"{opening or _POSTED[decision.action]}: {'; '.join(why)}."
