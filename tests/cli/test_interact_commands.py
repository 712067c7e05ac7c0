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
