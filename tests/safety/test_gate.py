"""Reply suggestions never offer what the policy would act on."""

from __future__ import annotations

import pytest

from townsquare.safety.gate import ReplySafetyCheck
from townsquare.safety.policy import load_policy
from townsquare.safety.registry import SafetyScorer
from townsquare.safety.rules import PersonalDataClassifier, SpamClassifier

POLICY = """
[[rules]]
classifier = "spam"
label = "spam"
threshold = 0.5
action = "label"
[[rules]]
classifier = "personal_data"
label = "personal_data"
threshold = 0.8
action = "review"
"""


@pytest.fixture
def check(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    scorer = SafetyScorer([PersonalDataClassifier(), SpamClassifier()], encoder=None)
    return scorer, load_policy(path, scorer.curves())


def test_reply_drafts_are_filtered_by_the_policy(check):
    scorer, policy = check
    drafts = ["Congrats, well deserved!", "Call me at +1 415 555 0134 or mail me@example.com",
              "FREE followers!!! click http://a.example http://b.example #follow #free #win #promo #gain"]
    checked = ReplySafetyCheck(scorer, policy).check(drafts)
    assert [c.allowed for c in checked] == [True, False, False]
    assert checked[1].decision.action == "review" and "personal_data" in checked[1].decision.explain()[0]
    assert ReplySafetyCheck(scorer, policy).allowed(drafts) == drafts[:1]
    # A looser setting still blocks what would be sent to review, but lets labelled drafts through.
    assert ReplySafetyCheck(scorer, policy, block_at="review").allowed(drafts) == [drafts[0], drafts[2]]
