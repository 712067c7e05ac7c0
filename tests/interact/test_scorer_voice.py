import numpy as np
import pytest

from townsquare.interact import ResponseScorer, VoiceProfile, VoiceStyler
from townsquare.interact.scorer import shipped_scorer_path
from townsquare.interact.scorer_train import GroupVectors, ranking_metrics, train_scorer


def test_shipped_scorer_is_small_and_ranks_a_fitting_reply_first(embedder):
    assert shipped_scorer_path().stat().st_size < 400_000
    scorer = ResponseScorer.load()
    s = scorer.score_texts(embedder, ["Do you want to get lunch tomorrow?"],
                           ["Sure, what time works for you?", "The capital of France is Paris.", "I bought a blue car."])
    assert int(np.argmax(s)) == 0


def test_training_learns_a_rule_cosine_misses(tmp_path):
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    d, n = 16, 120
    contexts = rng.normal(size=(n, d)).astype(np.float32)
    contexts /= np.linalg.norm(contexts, axis=1, keepdims=True)
    flip = -contexts  # the right reply points away from its context: cosine ranks it last
    noise = lambda: rng.normal(scale=0.05, size=(n, 5, d)).astype(np.float32)
    good = flip[:, None, :] + noise()
    adversarial = contexts[:, None, :] + noise()
    random = np.roll(flip, 1, axis=0)[:, None, :] + noise()
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
    data = GroupVectors(contexts, unit(good), unit(adversarial), unit(random))
    assert ranking_metrics(ResponseScorer.cosine(d), data)["good_over_adversarial"] < 0.1
    trained = train_scorer(data.take(np.arange(80)), epochs=300, lr=0.05, l2=0.0, batch=16)
    held_out = ranking_metrics(trained, data.take(np.arange(80, n)))
    assert held_out["good_over_adversarial"] > 0.9 and held_out["recall_at_1"] > 0.9
    path = trained.save(tmp_path / "s.npz")
    assert ResponseScorer.load(path).W.shape == (d, d)


def test_voice_profiles_and_styling():
    casual = VoiceProfile.learn(["omg best pancakes ever 🥞🎉", "lol new plant day!! 🌱", "yeah sunny walk 🐶"])
    formal = VoiceProfile.learn(["I finished reading a history of Rome. The roads are remarkable.",
                                 "Our committee meets on Thursday. Please review the agenda."])
    assert casual.emoji_rate > 1 and casual.formality < 0.4 and casual.words < formal.words
    assert formal.emoji_rate == 0 and formal.formality > 0.65
    styler = VoiceStyler()
    assert styler.apply("That sounds great!", casual)[-1] in "🥞🎉🌱🐶"
    assert styler.apply("that sounds great 🎉", formal) == "That sounds great."
    long = "This is a sentence. " * 12
    assert len(styler.apply(long, casual).split()) < len(long.split())


def test_every_kind_of_emoji_is_one_emoji():
    """Clock and hourglass symbols, flags, skin tones and joined sequences: a formal voice drops them whole
    ("so tempting! ⏱️." was offered until session 15: ⏱ was not an emoji to the styler)."""
    from townsquare.interact.voice import EMOJI, is_neutral

    for emoji in ("⏱️", "⏳", "🇬🇧", "👩‍💻", "👍🏽", "❤️", "⭐", "🗺️"):
        assert EMOJI.findall(f"a {emoji} b") == [emoji] and EMOJI.sub("", f"a {emoji} b") == "a  b", emoji
    assert not EMOJI.search("a → b, © 2026") and is_neutral("👍🏽")
    formal = VoiceProfile.learn(["Our committee meets on Thursday. Please review the agenda."])
    assert VoiceStyler().apply("The h-pawn push is so tempting! ⏱️", formal) == "The h-pawn push is so tempting!"
