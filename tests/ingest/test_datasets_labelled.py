"""TweetEval, LIAR, CONSTRAINT and DailyDialog++ readers, and the registry, on tiny files written here."""

from __future__ import annotations

import json

import pytest

from townsquare.errors import InputError, NotFoundError
from townsquare.ingest.datasets import (
    DATASETS,
    get_dataset,
    read_constraint,
    read_dailydialog_groups,
    read_dailydialog_plusplus,
    read_liar,
    read_tweeteval,
    tweeteval_tasks,
    write_labelled_jsonl,
)
from townsquare.ingest.jsonl import read_labelled_jsonl


def tweeteval(write, texts="good morning all \nso angry right now\n   \nyay\n", labels="1\n0\n0\n1\n"):
    write("datasets/irony/mapping.txt", "0\tnon_irony\n1\tirony\n")
    write("datasets/irony/train_text.txt", texts)
    write("datasets/irony/train_labels.txt", labels)
    write("datasets/stance/mapping.txt", "0\tnone\n1\tagainst\n2\tfavor\n")
    write("datasets/stance/tea/val_text.txt", "tea is great\n")
    write("datasets/stance/tea/val_labels.txt", "2\n")
    return write("datasets/README.txt", "readme").parent.parent


def test_tweeteval_tasks_and_rows(write):
    root = tweeteval(write)
    assert tweeteval_tasks(root) == ["irony", "stance/tea"]
    rows = list(read_tweeteval(root, task="irony"))  # the blank tweet on line 3 is skipped
    assert [(r.text, r.label, r.line) for r in rows] == [
        ("good morning all", "irony", 1),
        ("so angry right now", "non_irony", 2),
        ("yay", "irony", 4),
    ]
    assert rows[0].task == "irony" and rows[0].split == "train"
    stance = list(read_tweeteval(root, task="stance/tea", split="validation"))
    assert [(r.text, r.label, r.split) for r in stance] == [("tea is great", "favor", "val")]


def test_tweeteval_refuses_unknown_task_and_missing_split(write):
    root = tweeteval(write)
    with pytest.raises(InputError, match="irony, stance/tea") as caught:
        read_tweeteval(root, task="emoji")
    assert caught.value.field == "task"
    with pytest.raises(InputError, match="give a task"):
        read_tweeteval(root)
    with pytest.raises(NotFoundError, match="Splits present: train"):
        read_tweeteval(root, task="irony", split="test")


@pytest.mark.parametrize(
    ("labels", "line", "source", "needle"),
    [
        ("1\n0\n0\n", 4, "train_text.txt", "different line counts"),
        ("1\n0\n0\n1\n1\n", 5, "train_labels.txt", "different line counts"),
        ("1\n7\n0\n1\n", 2, "train_labels.txt", "not in mapping.txt"),
    ],
)
def test_tweeteval_bad_labels(write, errors, labels, line, source, needle):
    root = tweeteval(write, labels=labels)
    with pytest.raises(InputError) as caught:
        list(read_tweeteval(root, task="irony"))
    assert (
        caught.value.line == line and caught.value.source.endswith(source) and needle in caught.value.message
    )
    assert len(list(read_tweeteval(root, task="irony", on_error=errors.append))) >= 1 and len(errors) == 1


LIAR_ROW = (
    "{id}.json\t{label}\tSays taxes went up.\teconomy,taxes\tjane-doe\tMayor\tOhio\tdemocrat"
    "\t11\t22\t33\t44\t55\ta speech"
)


def test_liar_rows_leave_out_credit_history(write):
    path = write(
        "liar_dataset/valid.tsv",
        LIAR_ROW.format(id=1, label="half-true") + "\n" + LIAR_ROW.format(id=2, label="pants-fire") + "\n",
    )
    rows = list(read_liar(path.parent.parent, split="valid"))
    assert [(r.text, r.label, r.id) for r in rows] == [
        ("Says taxes went up.", "half-true", "1"),
        ("Says taxes went up.", "pants-fire", "2"),
    ]
    dumped = rows[0].model_dump()
    assert dumped["subjects"] == ["economy", "taxes"] and dumped["speaker"] == "jane-doe"
    assert dumped["context"] == "a speech" and dumped["party"] == "democrat"
    assert not {"11", "22", "33", "44", "55"} & {str(v) for v in dumped.values()}
    assert not any("count" in key or "credit" in key for key in dumped)


@pytest.mark.parametrize(
    ("row", "field", "needle"),
    [
        (LIAR_ROW.format(id=2, label="sorta"), "label", "pants-fire, false"),
        (LIAR_ROW.format(id=2, label="true").replace("\ta speech", ""), None, "has 13 fields"),
        (LIAR_ROW.format(id=1, label="true"), "id", "line 1"),
    ],
)
def test_liar_bad_rows(write, errors, row, field, needle):
    path = write("train.tsv", LIAR_ROW.format(id=1, label="true") + "\n" + row + "\n")
    with pytest.raises(InputError) as caught:
        list(read_liar(path.parent))
    assert (caught.value.line, caught.value.field) == (2, field) and needle in caught.value.message
    assert len(list(read_liar(path.parent, on_error=errors.append))) == 1 and len(errors) == 1


def test_liar_refuses_task_and_unknown_split(write):
    folder = write("train.tsv", LIAR_ROW.format(id=1, label="true") + "\n").parent
    with pytest.raises(InputError, match="no tasks"):
        read_liar(folder, task="x")
    with pytest.raises(InputError, match="unknown split"):
        read_liar(folder, split="holdout")


def test_a_split_file_given_for_its_folder_is_read_and_another_file_is_refused(write):
    from townsquare.errors import NotFoundError

    path = write("liar/train.tsv", LIAR_ROW.format(id=1, label="true") + "\n")
    assert [r.id for r in read_liar(path)] == [r.id for r in read_liar(path.parent)] == ["1"]
    with pytest.raises(NotFoundError, match=r"is a file, not LIAR's valid split \(valid.tsv\): give the folder"):
        read_liar(path, split="valid")


def test_constraint_rows(write, errors):
    text = (
        'id,tweet,label\r\n1,"Masks work, says study https://t.co/x",real\r\n2,Garlic cures it,fake\r\n'
        "3,Hmm,maybe\r\n"
    )
    folder = write("Constraint_Val.csv", text).parent
    with pytest.raises(InputError) as caught:
        list(read_constraint(folder, split="val"))
    assert (caught.value.line, caught.value.field) == (4, "label")
    rows = list(read_constraint(folder, split="val", on_error=errors.append))
    assert [(r.text, r.label, r.id) for r in rows] == [
        ("Masks work, says study https://t.co/x", "real", "1"),
        ("Garlic cures it", "fake", "2"),
    ]


def dialog(i, **overrides):
    row = {
        "id": i,
        "context": ["Hi there.", "How was the trip?"],
        "positive_responses": ["Great, thanks!", "Long."],
        "adversarial_negative_responses": ["The trip to the trip."],
        "random_negative_responses": ["Pass the salt."],
    }
    return json.dumps(row | overrides)


def test_dailydialog_groups_and_flat_rows(write):
    folder = write("dataset/dev.json", dialog(0) + "\n" + dialog(1, context=["Only one turn."])).parent.parent
    groups = list(read_dailydialog_groups(folder))
    assert [g.id for g in groups] == ["0", "1"] and groups[0].good == ["Great, thanks!", "Long."]
    assert groups[0].candidates()[-1] == ("Pass the salt.", "random")
    rows = list(read_dailydialog_plusplus(folder, split="dev"))
    assert len(rows) == 8
    assert [(r.text, r.label) for r in rows[:4]] == [
        ("Great, thanks!", "good"),
        ("Long.", "good"),
        ("The trip to the trip.", "adversarial"),
        ("Pass the salt.", "random"),
    ]
    assert (
        rows[0].context == ["Hi there.", "How was the trip?"]
        and rows[0].group == "0"
        and rows[4].group == "1"
    )


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (dialog(1, context=[]), "context"),
        (dialog(1, positive_responses=["ok", "  "]), "positive_responses.1"),
        (dialog(0), "id"),
        ("{broken", None),
    ],
)
def test_dailydialog_bad_lines(write, errors, line, field):
    folder = write("dev.json", dialog(0) + "\n" + line + "\n").parent
    with pytest.raises(InputError) as caught:
        list(read_dailydialog_groups(folder))
    assert (caught.value.line, caught.value.field) == (2, field)
    assert len(list(read_dailydialog_groups(folder, on_error=errors.append))) == 1 and len(errors) == 1


def test_registry_names_kinds_and_unknown_name():
    assert set(DATASETS) == {
        "movielens-100k",
        "lastfm-hetrec2011",
        "mind",
        "tweeteval",
        "liar",
        "constraint",
        "dailydialog-plusplus",
    }
    assert {n for n, d in DATASETS.items() if d.kind == "social"} == {
        "movielens-100k",
        "lastfm-hetrec2011",
        "mind",
    }
    for info in DATASETS.values():
        assert info.description and info.url.startswith("https://") and info.license
        assert (info.default_split in info.splits) == (info.kind == "labelled")
    with pytest.raises(NotFoundError, match="movielens-100k"):
        get_dataset("netflix")


def test_labelled_reader_output_writes_and_reads_back(write, tmp_path):
    folder = write("dev.json", dialog(3) + "\n").parent
    out = tmp_path / "out" / "dd.jsonl"
    assert write_labelled_jsonl(get_dataset("dailydialog-plusplus").reader(folder, split="val"), out) == 4
    assert [r.group for r in read_labelled_jsonl(out)] == ["3"] * 4
