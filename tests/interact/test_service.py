"""``build_interact``: suggestions, drafts and the assistant follow the community's policy, as the feed does."""

from __future__ import annotations

from sqlalchemy import select

from townsquare.interact import build_interact
from townsquare.safety import score_posts
from townsquare.settings import Settings
from townsquare.storage.schema import posts


def test_the_assistant_and_reply_checks_follow_the_communitys_policy_file(community, safety, tmp_path):
    """A community whose policy hides every sourdough-happy post: the assistant no longer cites them, and
    the reply safety check drops a warm reply, while under the built-in policy both pass."""
    _check, scorer, default = safety
    strict = tmp_path / "strict.toml"
    strict.write_text('community = "strict"\n[[rules]]\nclassifier = "sentiment"\nlabel = "positive"\n'
                      'threshold = 0.5\naction = "hide"\n')
    with community.read() as conn:
        ids = list(conn.execute(select(posts.c.id)).scalars())
    score_posts(community, ids, scorer, default)  # scores are stored once; each policy decides from them
    plain = build_interact(Settings(data_dir=tmp_path / "a"), community, use_generator=False, safety_scorer=scorer)
    ruled = build_interact(Settings(data_dir=tmp_path / "b", safety_policy=strict), community, use_generator=False,
                           safety_scorer=scorer)
    assert ruled.assistant.policy.source == str(strict) and plain.assistant.policy.source == "built-in default"
    ana = community.find_user("ana")["id"]
    def citable(assistant) -> set[str]:
        return {r["external_id"] for r, _ in assistant.allowed([(r, 1.0) for r in assistant.visible_posts(ana, None)],
                                                               1000)}

    cited, kept = citable(plain.assistant), citable(ruled.assistant)
    assert {"c1", "a1"} <= cited and not {"c1", "a1"} & kept  # the happy posts are hidden here
    assert "r3" in kept and "r3" not in cited  # a phone number: the built-in policy's rule, not this one's

    warm = "That loaf looks amazing, well done!"
    assert plain.drafter.safety.check([warm])[0].decision.action == "allow"
    assert ruled.drafter.safety.check([warm])[0].decision.action == "hide"
