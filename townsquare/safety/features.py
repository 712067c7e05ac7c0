"""What a classifier reads from a batch of texts, computed once and shared by every head.

``TextBatch`` holds the texts and, on first use, their encoder vectors (one encoder pass per
text, shared by all heads), their hashed word and character n-grams (for heads that use
them: no vocabulary to ship, only the weights of the n-grams a head kept) and their sentiment
lexicon scores (VADER, for heads that use them).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, lru_cache

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from townsquare.models.base import Embedder

NGRAM_DIM = 2 ** 20
_WORDS = HashingVectorizer(n_features=NGRAM_DIM, ngram_range=(1, 2), alternate_sign=False, norm=None,
                           binary=True, token_pattern=r"(?u)[#@]?\b\w+\b")
_CHARS = HashingVectorizer(n_features=NGRAM_DIM, analyzer="char_wb", ngram_range=(3, 5),
                           alternate_sign=False, norm=None, binary=True)


LEXICON_FEATURES = ("vader_neg", "vader_neu", "vader_pos", "vader_compound", "vader_positive", "vader_negative")


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


# VADER reads this much of a text: its negation check grows with the square of a text's length (a 20,000-
# character post took 4 s), and the encoder reads fewer characters than this anyway.
LEXICON_CHARS = 2000


def lexicon_features(texts: Sequence[str]) -> np.ndarray:
    """VADER's negative, neutral, positive and compound scores, and whether the compound passes
    VADER's own +-0.05 thresholds: (n, 6) float32, 7,500-11,500 tweets/s on two slow cores
    (``bench/moderate.py``). On TweetEval sentiment they lifted the head's 5-fold macro-recall by
    2.4 points over the encoder and n-grams alone."""
    polarity = _vader().polarity_scores
    scores = np.array([[d["neg"], d["neu"], d["pos"], d["compound"]] for d in (polarity(t[:LEXICON_CHARS]) for t in texts)],
                      np.float32).reshape(-1, 4)
    compound = scores[:, 3:4]
    return np.hstack([scores, compound > 0.05, compound < -0.05]).astype(np.float32)


def ngram_features(texts: Sequence[str]) -> sparse.csr_matrix:
    """Binary word 1-2-grams and character 3-5-grams, hashed into one space, rows L2-normalised."""
    texts = list(texts)
    matrix = _WORDS.transform(texts) + _CHARS.transform(texts)
    return normalize(matrix.tocsr(), norm="l2", copy=False)


class TextBatch:
    """A batch of texts with lazily computed, shared features."""

    def __init__(self, texts: Sequence[str], encoder: Embedder | None = None,
                 vectors: np.ndarray | None = None) -> None:
        self.texts = list(texts)
        self.encoder = encoder
        if vectors is not None:
            self.__dict__["vectors"] = np.asarray(vectors, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def vectors(self) -> np.ndarray:
        if self.encoder is None:
            raise ValueError("this TextBatch has no encoder; give one or precomputed vectors")
        return self.encoder.embed(self.texts)

    @cached_property
    def ngrams(self) -> sparse.csr_matrix:
        return ngram_features(self.texts)

    @cached_property
    def lexicon(self) -> np.ndarray:
        return lexicon_features(self.texts)
