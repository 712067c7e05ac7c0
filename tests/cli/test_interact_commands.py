"""suggest, draft and rewrite as a person reads them (a table, the text) and as a program does (--json)."""

from __future__ import annotations

import json

from tests.cli.conftest import write_jsonl

WORLD = [
    {"type": "user", "id": "u1", "handle": "ada", "bio": "chess"},
    {"type": "user", "id": "u2", "handle": "bob"},
    {"type": "post", "id": "p1", "author": "u1", "text": "Studying rook endgames tonight. Any favourite books? #chess"},
    {"type": "post", "id": "p2", "author": "u2", "text": "Silman's endgame course is the one.", "reply_to": "p1"},
]


def test_suggest_draft_and_rewrite_print_text_not_records(run, tmp_path):
    def output(*args: str) -> str:
        result = run(*args)
        assert result.exit_code == 0, result.output
        return result.output

    output("import", "jsonl", str(write_jsonl(tmp_path / "world.jsonl", WORLD)))
    shown = output("suggest", "p1", "-u", "bob", "--no-generator")
    assert "suggestion" in shown and "stock" in shown and "np.float64" not in shown and "'items'" not in shown
    data = json.loads(output("suggest", "p1", "-u", "bob", "--no-generator", "--json"))
    assert data["items"] and all(isinstance(item["score"], float) for item in data["items"])
    drafted = output("draft", "rook endgames with the club tonight", "-u", "ada", "--no-generator")
    assert drafted.startswith("Rook endgames with the club tonight") and "built from the prompt's own words" in drafted
    rewritten = output("rewrite", "Rook endgames tonight. #chess", "--how", "more_formal", "--no-generator")
    assert "rewritten: more formal" in rewritten and "'text'" not in rewritten


TOPICS = ["chess", "bread", "gardening", "running", "jazz", "painting", "hiking", "knitting", "cycling", "baking",
          "photography", "astronomy", "poetry", "football", "sailing", "climbing", "pottery", "birdwatching",
          "fishing", "cooking", "swimming", "tennis", "camping", "origami", "skiing", "surfing"]


def _dailydialog(folder):
    """A DailyDialog++-shaped dev.json: on-topic good replies, same-words adversarial ones, others' replies as random."""
    rows = []
    for i, topic in enumerate(TOPICS):
        other = TOPICS[(i + 7) % len(TOPICS)]
        rows.append({"id": i, "context": ["What did you do this weekend?", f"I spent all of it on {topic}, it was lovely."],
                     "positive_responses": [f"That sounds fun, how long have you been into {topic}?",
                                            f"I love {topic} too!", f"Nice, {topic} is a great way to relax.",
                                            f"Did you enjoy the {topic}?", f"We should try {topic} together."],
                     "adversarial_negative_responses": [f"The {topic} invoice was paid on Tuesday.",
                                                        f"{topic.capitalize()} prices rose by two percent.",
                                                        f"Please file the {topic} report.", f"The {topic} server is down.",
                                                        f"Our {topic} tax form is due."],
                     "random_negative_responses": [f"I love {other} too!", f"Did you enjoy the {other}?",
                                                   "The train leaves at nine.", "My cat is asleep.",
                                                   "Pass the salt, please."]})
    folder.mkdir()
    write_jsonl(folder / "dev.json", rows)
    return folder


def test_the_reply_scorer_trains_and_is_evaluated_from_the_command_line(run, tmp_path):
    """`train scorer` and `eval replies` on a DailyDialog++-shaped file, as a platform would run them."""
    data = _dailydialog(tmp_path / "dd")
    trained = run("train", "scorer", "--data", str(data), "--epochs", "5", "--out", str(tmp_path / "scorer.npz"))
    assert trained.exit_code == 0, trained.output
    assert f"trained on {len(TOPICS)} contexts" in trained.output and (tmp_path / "scorer.npz").stat().st_size > 0
    with_feedback = run("train", "scorer", "--data", str(data), "--epochs", "5", "--feedback",
                        "--out", str(tmp_path / "scorer2.npz"))  # no suggestion has an outcome yet: it says so
    assert with_feedback.exit_code == 0 and "found no usable feedback" in with_feedback.output, with_feedback.output
    assert f"{len(TOPICS)} from DailyDialog++, 0 from this platform's feedback" in " ".join(with_feedback.output.split())
    result = run("eval", "replies", "--data", str(data / "dev.json"), "--folds", "2", "--sample", "0", "--json",
                 "--out", str(tmp_path / "r" / "replies.json"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r" / "replies.html").read_text()
    assert "<img" in page and "good_over_adversarial" in page and (tmp_path / "r" / "replies.png").stat().st_size
    assert json.loads((tmp_path / "r" / "replies.json").read_text())["contexts"] == len(TOPICS)
    report = json.loads(result.output[result.output.index("{"):])
    assert report["contexts"] == len(TOPICS)
    ranking = report["ranking"]
    assert {"cosine", "trained", "reply_only", "no_reply_prior"} <= set(ranking)
    for metrics in (ranking["cosine"], ranking["trained"]):
        assert metrics["contexts"] == len(TOPICS) and 0.0 <= metrics["recall_at_1"] <= 1.0
        assert metrics["good_over_random"] > 0.5  # on-topic replies beat others' replies: better than chance
    assert report["scorer_throughput"]["candidates_per_s"] > 0


def test_eval_replies_keeps_its_report_when_the_generator_is_down(run, tmp_path, monkeypatch):
    """An OpenAI-compatible server that does not answer: the generated section says so, the rest stands."""
    data = _dailydialog(tmp_path / "dd")
    monkeypatch.setenv("TOWNSQUARE_GENERATOR_BACKEND", "openai")
    monkeypatch.setenv("TOWNSQUARE_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens on port 9
    monkeypatch.setenv("TOWNSQUARE_OPENAI_MAX_RETRIES", "0")
    result = run("eval", "replies", "--data", str(data / "dev.json"), "--folds", "2", "--sample", "3", "--json",
                 "--out", str(tmp_path / "replies.json"))
    assert result.exit_code == 0, result.output
    generated = json.loads(result.output[result.output.index("{"):])["generated"]
    assert generated["generator_error"] and "generated" not in generated["results"]
    assert generated["results"]["retrieved"]["contexts"] == 3  # --sample 3 over 2 folds: 2 and 1
    assert "No generated replies" in (tmp_path / "replies.html").read_text()
