"""Which posts a user may see: the one rule the assistant and the web app's post pages share.

Live (not deleted) and public, or followers-only from someone the user follows, or their own; and
not by anyone the user blocks or mutes, or who blocks the user. Moderation (posts a policy or a
moderator hid or sent to review) is the caller's: ``townsquare.safety.post_decisions``.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select

from townsquare.storage.schema import edges, posts


def visible_to(user_id: int) -> ColumnElement[bool]:
    """A condition on ``posts``: its visibility lets the user know of it (public, the user's own, or
    followers-only from someone they follow), whatever else keeps it from them."""
    follows = select(edges.c.target_id).where(edges.c.source_id == user_id, edges.c.kind == "follow")
    return or_(posts.c.visibility == "public", posts.c.author_id == user_id,
               and_(posts.c.visibility == "followers", posts.c.author_id.in_(follows)))


def may_see(user_id: int) -> ColumnElement[bool]:
    """A condition on ``posts``: live, ``visible_to`` the user, and not by an author the user blocks or
    mutes, or who blocks the user.

    One SQL condition, so a query's ``LIMIT`` counts only posts the user may see."""
    e = edges
    shunned = select(e.c.target_id).where(e.c.source_id == user_id, e.c.kind.in_(("block", "mute")))
    blockers = select(e.c.source_id).where(e.c.target_id == user_id, e.c.kind == "block")
    return and_(posts.c.deleted.is_(False), visible_to(user_id),
                posts.c.author_id.not_in(shunned), posts.c.author_id.not_in(blockers))
