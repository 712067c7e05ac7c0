"""Training a head: cross-validation, calibration, pruning, files; on data whose answer is obvious."""

from __future__ import annotations

import json

import numpy as np
import pytest

from townsquare.errors import InputError
from townsquare.safety.features import LEXICON_FEATURES, TextBatch, lexicon_features
from townsquare.safety.heads import LinearHead, fit_temperature, softmax
from townsquare.safety.train import TrainOptions, load_labelled, train_head, train_head_holdout

WORDS = {"calm": ["lovely", "kind", "thanks", "sunny", "friends"], "rude": ["idiot", "stupid", "trash", "shut", "loser"]}


def world(n: int, seed: int = 0, dim: int = 16):
    """Texts with a class word in most of them, and vectors carrying a weak class signal."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(["calm", "rude"], n)
    texts = [f"{rng.choice(WORDS[y]) if rng.random() < 0.9 else 'meh'} post number {i}" for i, y in enumerate(labels)]
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors[:, 0] += np.where(labels == "rude", 0.8, -0.8)
    return TextBatch(texts, vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True)), list(labels)


def test_cross_validated_head_learns_and_is_calibrated():
    batch, labels = world(400)
    result = train_head(batch, labels, TrainOptions(folds=4, c_grid=(1.0, 8.0)))
    m = result.cv_metrics
    assert m["macro_f1"] > 0.85 and m["auc"] > 0.9
    assert m["ece"] < 0.1
    head = result.head
    assert head.labels == ["calm", "rude"] and head.uses_ngrams
    assert head.meta["precision_curves"]["rude"]
    test, test_labels = world(200, seed=1)
    predicted = np.array(head.labels)[head.predict_proba(test).argmax(1)]
    assert (predicted == np.array(test_labels)).mean() > 0.85


def test_fits_in_worker_processes_give_the_same_head_as_in_one():
    batch, labels = world(300)
    serial = train_head(batch, labels, TrainOptions(folds=3, c_grid=(1.0, 8.0), jobs=1))
    parallel = train_head(batch, labels, TrainOptions(folds=3, c_grid=(1.0, 8.0), jobs=2, parallel_from=0))
    assert parallel.head.meta["C"] == serial.head.meta["C"]
    np.testing.assert_allclose(parallel.oof_probs, serial.oof_probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(parallel.head.dense, serial.head.dense, rtol=1e-5, atol=1e-6)


def test_small_data_picks_c_on_every_fold_and_large_data_on_the_first():
    """Below ``compare_on_all_below`` texts C is judged on all out-of-fold scores (log loss after a
    temperature per fold): the grid picks the C whose own 5-fold run scores best, with that run's scores."""
    from sklearn.model_selection import StratifiedKFold

    from townsquare.safety.train import _log_loss, encode_labels, out_of_fold

    batch, labels = world(300, seed=3)
    y, names = encode_labels(labels)
    grid = (0.003, 0.3, 30.0)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y))

    def pooled_loss(logits):
        return sum(_log_loss(softmax(logits[t] / fit_temperature(logits[t], y[t])), y[t]) * len(t) for _, t in folds) / len(y)

    alone = {c: out_of_fold(batch, y, names, TrainOptions(c_grid=(c,), use_ngrams=False))[0] for c in grid}
    best = min(grid, key=lambda c: pooled_loss(alone[c]))
    logits, chosen, _ = out_of_fold(batch, y, names, TrainOptions(c_grid=grid, use_ngrams=False))
    assert chosen == best
    np.testing.assert_allclose(logits, alone[best], rtol=1e-5, atol=1e-5)
    # above the threshold only the first fold judges: its choice is the best C on that fold
    _, first, _ = out_of_fold(batch, y, names, TrainOptions(c_grid=grid, use_ngrams=False, compare_on_all_below=0))
    test = folds[0][1]
    assert first == min(grid, key=lambda c: _log_loss(softmax(alone[c][test] / fit_temperature(alone[c][test], y[test])), y[test]))


def test_vectors_only_head_is_worse_than_with_ngrams():
    batch, labels = world(400)
    plain = train_head(batch, labels, TrainOptions(folds=4, use_ngrams=False, c_grid=(1.0,)))
    both = train_head(batch, labels, TrainOptions(folds=4, c_grid=(1.0,)))
    assert not plain.head.uses_ngrams
    assert both.cv_metrics["macro_f1"] > plain.cv_metrics["macro_f1"]


def sentiment_world(n: int, seed: int = 0, dim: int = 16):
    """Sentiment carried only by words VADER knows; the vectors are noise and every word is new
    to the n-grams (one text each), so only the lexicon features can tell the classes apart."""
    rng = np.random.default_rng(seed)
    good, bad = ["wonderful", "great", "love", "excellent", "happy"], ["terrible", "awful", "hate", "horrible", "sad"]
    labels = rng.choice(["negative", "positive"], n)
    texts = [f"{rng.choice(good if y == 'positive' else bad)} x{seed}q{i}" for i, y in enumerate(labels)]
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return TextBatch(texts, vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True)), list(labels)


def test_lexicon_features_carry_vader_scores():
    scores = lexicon_features(["I love this, it is wonderful", "this is awful and I hate it", "the bus leaves at 9"])
    assert scores.shape == (3, len(LEXICON_FEATURES)) and scores.dtype == np.float32
    compound, positive, negative = scores[:, 3], scores[:, 4], scores[:, 5]
    assert compound[0] > 0.5 and compound[1] < -0.5 and compound[2] == 0
    assert positive.tolist() == [1, 0, 0] and negative.tolist() == [0, 1, 0]
    assert lexicon_features([]).shape == (0, len(LEXICON_FEATURES))


def test_the_lexicon_reads_the_first_lexicon_chars_of_a_long_text():
    """VADER's negation check grows with the square of a text's length: a 20,000-character post took 4 s."""
    from townsquare.safety.features import LEXICON_CHARS

    calm = "the bus leaves at nine. " * (LEXICON_CHARS // 24 + 1)
    assert lexicon_features([calm + "I hate this awful awful day " * 500])[0, 3] == 0  # the angry tail is not read
    assert lexicon_features([calm[:100] + "I hate this awful awful day"])[0, 3] < -0.5


def test_lexicon_head_learns_what_vectors_and_ngrams_cannot(tmp_path):
    batch, labels = sentiment_world(300)
    options = TrainOptions(folds=3, c_grid=(1.0,), use_ngrams=False)
    plain = train_head(batch, labels, options)
    lexicon = train_head(batch, labels, TrainOptions(**{**options.__dict__, "use_lexicon": True}))
    assert plain.cv_metrics["macro_f1"] < 0.7 and lexicon.cv_metrics["macro_f1"] > 0.95
    head = lexicon.head
    assert head.meta["features"] == ["encoder", "lexicon"] and head.lexicon_weights.shape == (6, 2)
    again = LinearHead.load(head.save(tmp_path / "mood.npz"))
    test, _ = sentiment_world(50, seed=1)
    np.testing.assert_allclose(again.predict_proba(test), head.predict_proba(test), atol=2e-3)


def test_holdout_training_takes_the_lexicon_where_it_helps():
    batch, labels = sentiment_world(300)
    cal, cal_labels = sentiment_world(150, seed=2)
    result = train_head_holdout(batch, labels, cal, cal_labels, TrainOptions(c_grid=(1.0,)),
                                lexicon_choices=(False, True), select_by="macro_f1")
    assert result.head.lexicon_weights is not None and result.cv_metrics["macro_f1"] > 0.95
    assert result.head.meta["features"] == ["encoder", "lexicon", "ngrams"] or not result.head.uses_ngrams


def test_ngram_and_lexicon_head_needs_no_encoder():
    batch, labels = world(200)
    texts_only = TextBatch(batch.texts)  # no vectors, no encoder: asking for them would raise
    result = train_head(texts_only, labels, TrainOptions(folds=3, c_grid=(1.0,), use_vectors=False, use_lexicon=True))
    assert result.head.dense is None and result.head.meta["features"] == ["lexicon", "ngrams"]
    assert result.cv_metrics["macro_f1"] > 0.8


def test_holdout_training_chooses_on_the_held_out_split():
    batch, labels = world(300)
    cal, cal_labels = world(150, seed=2)
    result = train_head_holdout(batch, labels, cal, cal_labels, TrainOptions(c_grid=(1.0,)))
    assert result.head.meta["calibrated_on"] == "held-out calibration split"
    assert result.cv_metrics["n"] == 150 and result.cv_metrics["macro_f1"] > 0.8


def test_head_file_round_trip_is_small(tmp_path):
    batch, labels = world(300)
    head = train_head(batch, labels, TrainOptions(folds=3, c_grid=(1.0,), keep_ngrams=50)).head
    path = head.save(tmp_path / "rude.npz")
    again = LinearHead.load(path)
    assert len(again.ngram_index) <= 50 and again.labels == head.labels
    assert np.allclose(again.predict_proba(batch), head.predict_proba(batch), atol=2e-3)
    assert path.stat().st_size < 20_000
    assert again.meta["cv_metrics"]["macro_f1"] == head.meta["cv_metrics"]["macro_f1"]


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    right = rng.random(3000) < 0.75
    logits = np.where(right, 1, -1)[:, None] * np.array([-4.0, 4.0]) * np.where(y == 1, 1, -1)[:, None]
    t = fit_temperature(logits, y)
    assert t > 2
    assert softmax(logits / t).max(axis=1).mean() == pytest.approx(0.75, abs=0.03)


def test_labelled_files_and_their_errors(tmp_path):
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": f"t{i}", "label": "x" if i % 2 else "y"}) for i in range(6)))
    assert load_labelled(jsonl)[1][:2] == ["y", "x"]
    csv = tmp_path / "a.csv"
    csv.write_text("body,verdict\nhello there,ok\nyou fool,bad\n")
    assert load_labelled(csv, "body", "verdict") == (["hello there", "you fool"], ["ok", "bad"])
    batch, _ = world(10)
    with pytest.raises(InputError, match="at least two different labels"):
        train_head(batch, ["x"] * 10, TrainOptions(folds=2))
    with pytest.raises(InputError, match="fewer examples than --folds"):
        train_head(batch, ["x"] * 9 + ["y"], TrainOptions(folds=3))


def test_a_label_the_classifier_lacks_is_named_with_where_it_first_is():
    from townsquare.safety.train import encode_labels

    with pytest.raises(InputError, match=r"\['offensiv'\] are not labels .* labelled text 3 \('offensiv'\)"):
        encode_labels(["not-offensive", "offensive", "offensiv"], ["not-offensive", "offensive"], "e.jsonl")



def test_a_labelled_file_refuses_an_empty_label_and_a_text_of_only_spaces(tmp_path):
    """A CSV row with an empty label was refused; the same in labelled JSONL, or a text of spaces, was taken."""
    rows = [{"text": "hello there", "label": "ok"}, {"text": "you fool", "label": ""}]
    bad_label = tmp_path / "label.jsonl"
    bad_label.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(InputError, match=r"label\.jsonl:2, field 'label': is empty; every labelled text needs a label"):
        load_labelled(bad_label)
    bad_text = tmp_path / "text.jsonl"
    bad_text.write_text(json.dumps({"text": "ok", "label": "x"}) + "\n\n" + json.dumps({"text": " \t ", "label": "y"}))
    with pytest.raises(InputError, match=r"text\.jsonl:3, field 'text': is only spaces"):
        load_labelled(bad_text)


def test_a_label_the_classifier_lacks_is_named_by_its_file_and_line(tmp_path):
    """Blank lines and a header count: the error names the line an editor shows, not the text's rank."""
    from townsquare.safety.train import encode_labels, load_labelled_lines

    data = tmp_path / "e.jsonl"
    rows = [("fine", "not-offensive"), ("rude", "offensive"), None, ("ok", "not-offensive"), ("typo", "offensiv")]
    data.write_text("\n".join(json.dumps({"text": r[0], "label": r[1]}) if r else "" for r in rows) + "\n")
    _, labels, lines = load_labelled_lines(data)
    assert lines == [1, 2, 4, 5]
    with pytest.raises(InputError, match=r"e\.jsonl:5, field 'label': .* the first is on line 5 \('offensiv'\)"):
        encode_labels(labels, ["not-offensive", "offensive"], str(data), lines)
    table = tmp_path / "e.csv"
    table.write_text("text,label\nfine,not-offensive\n\ntypo,offensiv\n")
    _, labels, lines = load_labelled_lines(table)
    with pytest.raises(InputError, match=r"e\.csv:4, .* the first is on line 4"):
        encode_labels(labels, ["not-offensive", "offensive"], str(table), lines)

def test_output_paths_are_checked_before_the_work(tmp_path):
    """A report folder or --out that is a file was a FileExistsError traceback, for --out only after every
    text was embedded."""
    from townsquare.safety.pipeline import evaluate_classifier_on_file, train_classifier_from_file
    from townsquare.safety.report import write_report

    taken = tmp_path / "taken"
    taken.write_text("a file\n")
    missing = tmp_path / "no-such-data.jsonl"  # never read: the output is checked first
    with pytest.raises(InputError, match=r"field 'report': cannot write into .*taken: it is a file, not a folder"):
        evaluate_classifier_on_file("offensive", missing, report=taken)
    with pytest.raises(InputError, match=r"field 'out': cannot write into .*taken: it is a file, not a folder"):
        train_classifier_from_file("tone", missing, taken)
    with pytest.raises(InputError, match="it is a file, not a folder"):
        write_report(taken, "title", {}, np.zeros((0, 2)), np.zeros(0))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tone.npz").mkdir()
    with pytest.raises(InputError, match=r"cannot write .*tone\.npz: not a writable file"):
        train_classifier_from_file("tone", missing, tmp_path / "models")
