"""Policies: thresholds from precision curves, the most severe action wins, reasons kept."""

from __future__ import annotations

import time

import pytest

from townsquare.errors import ConfigError
from townsquare.safety.policy import PolicyWatch, at_prevalence, load_policy, threshold_for_precision

# (threshold, precision, recall) from low to high threshold, as training stores them.
CURVES = {
    "offensive": {"offensive": [(0.2, 0.5, 0.9), (0.5, 0.8, 0.6), (0.8, 0.95, 0.3)], "not-offensive": []},
    "personal_data": {"personal_data": [], "none": []},
    # as ``precision_curve`` makes them: the first point flags every held-out text, half of which were hateful
    "hate": {"hate": [(0.0, 0.5, 1.0), (0.5, 0.8, 0.6), (0.9, 1.0, 0.1)], "not-hate": []},
}


def write(tmp_path, body: str):
    path = tmp_path / "policy.toml"
    path.write_text('community = "chess"\n' + body)
    return path


def test_threshold_for_precision():
    curve = CURVES["offensive"]["offensive"]
    assert threshold_for_precision(curve, 0.75) == (0.5, 0.8)
    assert threshold_for_precision(curve, 0.9) == (0.8, 0.95)
    assert threshold_for_precision(curve, 0.99) == (0.8, 0.95)  # unreachable: the most precise point


def test_decide_takes_the_most_severe_action_and_multiplies_factors(tmp_path):
    policy = load_policy(write(tmp_path, """
[[rules]]
classifier = "offensive"
label = "offensive"
min_precision = 0.75
action = "demote"
factor = 0.5
[[rules]]
classifier = "personal_data"
label = "personal_data"
threshold = 0.9
action = "hide"
[[rules]]
classifier = "personal_data"
label = "personal_data"
threshold = 0.5
action = "demote"
factor = 0.8
"""), CURVES)
    assert policy.community == "chess"
    assert policy.decide({"offensive": {"offensive": 0.3}}).action == "allow"
    demoted = policy.decide({"offensive": {"offensive": 0.6}, "personal_data": {"personal_data": 0.6}})
    assert demoted.action == "demote" and demoted.factor == pytest.approx(0.4)
    assert len(demoted.reasons) == 2 and not demoted.review
    spans = {"personal_data": [{"start": 0, "end": 5, "kind": "email", "text": "a@b.c"}]}
    hidden = policy.decide({"offensive": {"offensive": 0.1}, "personal_data": {"personal_data": 0.97}}, spans)
    assert hidden.action == "hide" and hidden.hidden and hidden.review
    assert [r.action for r in hidden.reasons] == ["hide"]  # its demote rule fired too: one reason, the worst
    assert hidden.reasons[0].spans[0]["kind"] == "email"
    assert "email at 0-5" in hidden.explain()[0]



def test_a_label_rule_labels_whatever_else_fires_on_the_same_label(tmp_path):
    """A stricter rule on the same classifier and label used to take the label's place: a 0.96 post was
    demoted (or sent to review) without the label a milder 0.82 post got."""
    policy = load_policy(write(tmp_path, """
[[rules]]
classifier = "offensive"
label = "offensive"
threshold = 0.5
action = "label"
[[rules]]
classifier = "offensive"
label = "offensive"
threshold = 0.9
action = "review"
[[rules]]
classifier = "personal_data"
label = "personal_data"
threshold = 0.5
action = "label"
[[rules]]
classifier = "personal_data"
label = "personal_data"
threshold = 0.9
action = "demote"
factor = 0.5
"""), CURVES)
    mild = policy.decide({"offensive": {"offensive": 0.82}})
    assert (mild.action, mild.labels) == ("label", ("offensive",))
    strong = policy.decide({"offensive": {"offensive": 0.96}})
    assert strong.action == "review" and strong.review and strong.factor == 1.0
    assert strong.labels == ("offensive",)
    assert [r.action for r in strong.reasons] == ["review", "label"]  # what acted, the most severe first
    spans = {"personal_data": [{"start": 0, "end": 5, "kind": "email", "text": "a@b.c"}]}
    both = policy.decide({"offensive": {"offensive": 0.96}, "personal_data": {"personal_data": 0.95}}, spans)
    assert both.action == "review" and both.factor == pytest.approx(0.5)
    assert both.labels == ("offensive", "personal data")
    assert [len(r.spans) for r in both.reasons if r.classifier == "personal_data"] == [1, 0]  # the spans once

def test_policy_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(ConfigError, match="no classifier 'toxicity'"):
        load_policy(write(tmp_path, '[[rules]]\nclassifier = "toxicity"\nlabel = "x"\nthreshold = 0.5\naction = "hide"\n'),
                    CURVES)
    with pytest.raises(ConfigError, match="has no label 'rude'"):
        load_policy(write(tmp_path, '[[rules]]\nclassifier = "offensive"\nlabel = "rude"\nthreshold = 0.5\naction = "hide"\n'),
                    CURVES)
    with pytest.raises(ConfigError, match="give `threshold`"):
        load_policy(write(tmp_path, '[[rules]]\nclassifier = "personal_data"\nlabel = "personal_data"\n'
                                    'min_precision = 0.9\naction = "hide"\n'), CURVES)
    with pytest.raises(ConfigError, match="exactly one of threshold or min_precision"):
        load_policy(write(tmp_path, '[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\naction = "hide"\n'),
                    CURVES)
    with pytest.raises(ConfigError, match="factor below 1"):
        load_policy(write(tmp_path, '[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\nthreshold = 0.5\n'
                                    'action = "demote"\n'), CURVES)
    with pytest.raises(ConfigError, match="not found"):
        load_policy(tmp_path / "missing.toml", CURVES)
    rule = '[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\nthreshold = 0.5\naction = "{}"\n'
    with pytest.raises(ConfigError, match=r"line 2, the 1st rule: Value error, factor applies to demote rules only; "
                                          "this rule would label"):
        load_policy(write(tmp_path, rule.format("label") + "factor = 0.5\n"), CURVES)
    with pytest.raises(ConfigError, match="an allow rule does nothing"):
        load_policy(write(tmp_path, rule.format("allow")), CURVES)
    with pytest.raises(ConfigError, match=r"policy\.toml: Value error, rules 0 and 1 both demote offensive/offensive"):
        load_policy(write(tmp_path, (rule.format("demote") + "factor = 0.5\n") * 2), CURVES)
    assert load_policy(write(tmp_path, rule.format("label") + rule.format("hide").replace("0.5", "0.9")),
                       CURVES).rules[1].rule.action == "hide"  # one label and one action: not repeats
    with pytest.raises(ConfigError, match="has no rules, so it would act on nothing"):  # an empty or half-saved file
        load_policy(write(tmp_path, ""), CURVES)
    assert load_policy(write(tmp_path, "rules = []\n"), CURVES).rules == []  # nothing, on purpose
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + rule.format("hide").encode())
    assert load_policy(tmp_path / "bom.toml", CURVES).rules[0].rule.action == "hide"
    typo = rule.format("label") + "\n" + rule.format("hide").replace("classifier", "classifer")
    with pytest.raises(ConfigError, match="line 8, the 2nd rule, classifier: Field required; line 8, the 2nd rule, "
                                          "classifer: unknown key 'classifer'"):
        load_policy(write(tmp_path, typo), CURVES)
    (tmp_path / "latin1.toml").write_bytes(rule.format("label").encode() + b'note = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml is not UTF-8 text \(byte \d+\); save it as UTF-8"):
        load_policy(tmp_path / "latin1.toml", CURVES)


def test_at_prevalence_moves_precision_by_bayes_rule():
    curve = CURVES["hate"]["hate"]
    flat = lambda points: [x for point in points for x in point]
    assert flat(at_prevalence(curve, 0.5)) == pytest.approx(flat(curve))  # the held-out share: nothing moves
    # prior odds 0.25 against 1: precision odds scale by 0.25 (0.8 = 4:1 becomes 1:1); recall stays
    assert flat(at_prevalence(curve, 0.2)) == pytest.approx(flat([(0.0, 0.2, 1.0), (0.5, 0.5, 0.6), (0.9, 1.0, 0.1)]))
    with pytest.raises(ConfigError, match="does not start at recall 1"):
        at_prevalence(CURVES["offensive"]["offensive"], 0.2)


def test_a_stated_prevalence_raises_the_threshold_that_reaches_the_precision(tmp_path):
    rule = '[[rules]]\nclassifier = "hate"\nlabel = "hate"\nmin_precision = 0.75\naction = "demote"\nfactor = 0.5\n'
    as_held_out = load_policy(write(tmp_path, rule), CURVES)
    assert as_held_out.describe()[0].items() >= {"threshold": 0.5, "precision": 0.8, "prevalence": 0.5}.items()
    rare = load_policy(write(tmp_path, "[prevalence]\nhate = { hate = 0.2 }\n" + rule), CURVES)
    assert rare.describe()[0].items() >= {"threshold": 0.9, "precision": 1.0, "prevalence": 0.2}.items()
    assert rare.decide({"hate": {"hate": 0.6}}).action == "allow"
    reason = rare.decide({"hate": {"hate": 0.95}}).explain()[0]
    assert reason == "demote x0.5 because hate: hate 0.95 >= 0.90 (precision 100% at this threshold if 20% of posts are hate)"


def test_prevalence_errors_say_where(tmp_path):
    rule = '[[rules]]\nclassifier = "hate"\nlabel = "hate"\nmin_precision = 0.75\naction = "label"\n'
    with pytest.raises(ConfigError, match=r"prevalence.hate.hate: Input should be less than 1"):
        load_policy(write(tmp_path, "[prevalence]\nhate = { hate = 1.5 }\n" + rule), CURVES)
    with pytest.raises(ConfigError, match=r"prevalence.hate.spam: classifier 'hate' has no label 'spam'"):
        load_policy(write(tmp_path, "[prevalence]\nhate = { spam = 0.1 }\n" + rule), CURVES)
    with pytest.raises(ConfigError, match=r"prevalence.toxicity: no classifier 'toxicity'"):
        load_policy(write(tmp_path, "[prevalence]\ntoxicity = { toxic = 0.1 }\n" + rule), CURVES)
    with pytest.raises(ConfigError, match="offensive/offensive: this precision curve does not start at recall 1"):
        load_policy(write(tmp_path, "[prevalence]\noffensive = { offensive = 0.1 }\n"
                          '[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\nmin_precision = 0.75\n'
                          'action = "label"\n'), CURVES)


RULE = '[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\nthreshold = 0.5\naction = "{action}"\n'


def test_a_watched_policy_follows_its_file_and_keeps_the_last_good_one(tmp_path):
    """Every holder of the watched policy follows an edit; an edit that does not load changes nothing
    and says why; the next good edit clears that."""
    path = write(tmp_path, RULE.format(action="label"))
    changes = []
    watch = PolicyWatch(path, CURVES, on_change=lambda: changes.append(1))
    held = watch.policy  # what the feed, the pages and the reply checks hold
    offensive = {"offensive": {"offensive": 0.7}}
    assert held.decide(offensive).action == "label" and not watch.check()
    write(tmp_path, RULE.format(action="hide") + "\n")
    assert watch.check() and held.decide(offensive).action == "hide" and changes == [1] and watch.error is None
    write(tmp_path, RULE.format(action="hide").replace('"offensive"\nthreshold', '"rude"\nthreshold'))
    assert not watch.check() and held.decide(offensive).action == "hide" and changes == [1]
    assert "rude" in watch.error and "the policy read before stays in force" in watch.error
    path.unlink()
    assert not watch.check() and "not found" in watch.error
    path.write_bytes(RULE.format(action="hide").encode() + b'note = "caf\xe9"\n')  # saved in Latin-1
    assert not watch.check() and "not UTF-8" in watch.error and held.decide(offensive).action == "hide"
    write(tmp_path, RULE.format(action="review"))
    assert watch.check() and held.decide(offensive).action == "review" and watch.error is None


def test_a_started_watch_takes_an_edit_by_itself(tmp_path):
    path = write(tmp_path, RULE.format(action="label"))
    watch = PolicyWatch(path, CURVES).start(every_s=0.02)
    try:
        write(tmp_path, RULE.format(action="hide") + "# hidden from now on\n")
        deadline = time.monotonic() + 10
        while watch.policy.rules[0].rule.action != "hide" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watch.policy.rules[0].rule.action == "hide"
    finally:
        watch.stop()
