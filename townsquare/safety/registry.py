"""Which classifiers exist, where their heads live, and ``SafetyScorer``, which runs them all.

Shipped heads live in ``townsquare/safety/shipped/NAME.npz`` (each with ``NAME.md``, its model
card). Heads a platform trains itself go to ``DATA_DIR/models/safety/NAME.npz`` and take the
place of a shipped head or rule classifier of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from townsquare.errors import ConfigError, NotFoundError
from townsquare.models.base import Embedder
from townsquare.safety.base import Classifier, ClassifierOutput, TextScores
from townsquare.safety.features import TextBatch
from townsquare.safety.heads import LinearHead
from townsquare.safety.rules import PersonalDataClassifier, SpamClassifier, ViolentSpeechClassifier

RULE_CLASSIFIERS = {"personal_data": PersonalDataClassifier, "spam": SpamClassifier,
                    "violent_speech": ViolentSpeechClassifier}
ADAPTER_FILE = "encoder_adapter.npz"


def shipped_dir() -> Path:
    return Path(str(resources.files("townsquare.safety") / "shipped"))


def trained_dir(data_dir: Path) -> Path:
    """Where ``townsquare train classifier`` writes a platform's own heads."""
    return Path(data_dir) / "models" / "safety"


class HeadClassifier(Classifier):
    """A trained ``LinearHead`` over the shared moderation encoder."""

    def __init__(self, name: str, head: LinearHead, encoder: Embedder | None, path: Path | None = None) -> None:
        trained_on = head.meta.get("encoder")
        if encoder is not None and trained_on and "encoder" in head.meta.get("features", ["encoder"]) \
                and encoder.model_id != trained_on:
            raise ConfigError(f"classifier {name!r} ({path}) reads vectors of encoder {trained_on!r}, but was "
                              f"given {encoder.model_id!r}: its scores would be meaningless. Load it with the "
                              "moderation encoder (SafetyScorer.load without encoder=), or retrain it on the encoder "
                              f"of this version: `{_training_command(name, path)}`.")
        self.name, self.head, self.encoder, self.path = name, head, encoder, path
        self.labels = list(head.labels)
        self.version = str(head.meta.get("version", "1"))
        self.meta = head.meta

    def predict(self, batch: TextBatch) -> ClassifierOutput:
        return ClassifierOutput(self.name, self.labels, self.head.predict_proba(batch))


def _training_command(name: str, path: Path | None) -> str:
    """The command in the head's model card (its data file and options), else the general one."""
    card = path.with_suffix(".md") if path is not None else None
    if card is not None and card.is_file():
        lines = card.read_text(encoding="utf-8").splitlines()
        if "## Reproduce" in lines:
            command = next((line.strip() for line in lines[lines.index("## Reproduce") + 1:] if line.strip()), "")
            if command.startswith("townsquare train"):
                return command
    return f"townsquare train classifier {name} --data FILE"


def head_paths(data_dir: Path | None = None) -> dict[str, Path]:
    """name -> head file; a platform's own heads override the shipped ones."""
    found = {p.stem: p for p in sorted(shipped_dir().glob("*.npz")) if p.name != ADAPTER_FILE}
    if data_dir is not None and trained_dir(data_dir).is_dir():
        found.update({p.stem: p for p in sorted(trained_dir(data_dir).glob("*.npz"))})
    return found


def classifier_names(data_dir: Path | None = None) -> list[str]:
    return sorted(set(head_paths(data_dir)) | set(RULE_CLASSIFIERS))


def default_encoder(threads: int = 2, cache_dir: Path | None = None) -> Embedder:
    """The moderation encoder with the shipped adapter (built into the model cache on first use)."""
    from townsquare.safety.encoder import ModerationEncoder

    return ModerationEncoder(shipped_dir() / ADAPTER_FILE, threads=threads, cache_dir=cache_dir)


def load_classifier(name: str, *, data_dir: Path | None = None, encoder: Embedder | None = None) -> Classifier:
    """The classifier called ``name``, or NotFoundError listing those that exist."""
    paths = head_paths(data_dir)
    if name in paths:
        return HeadClassifier(name, LinearHead.load(paths[name]), encoder, paths[name])
    if name in RULE_CLASSIFIERS:
        return RULE_CLASSIFIERS[name]()
    raise NotFoundError(f"no classifier {name!r}; classifiers: {', '.join(classifier_names(data_dir))}. "
                        f"Train one with `townsquare train classifier {name} --data FILE`.")


class SafetyScorer:
    """All classifiers over one encoder pass per text."""

    def __init__(self, classifiers: Sequence[Classifier], encoder: Embedder | None) -> None:
        self.classifiers = list(classifiers)
        self.encoder = encoder

    @classmethod
    def load(cls, names: Sequence[str] | None = None, *, data_dir: Path | None = None,
             encoder: Embedder | None = None, threads: int = 2) -> SafetyScorer:
        encoder = encoder or default_encoder(threads)
        chosen = list(names) if names else classifier_names(data_dir)
        return cls([load_classifier(n, data_dir=data_dir, encoder=encoder) for n in chosen], encoder)

    def outputs(self, texts: Sequence[str]) -> list[ClassifierOutput]:
        batch = TextBatch(texts, self.encoder)
        return [c.predict(batch) for c in self.classifiers]

    def score(self, texts: Sequence[str]) -> list[TextScores]:
        """Per text: ``{classifier: {label: probability}}`` and spans."""
        results = [TextScores() for _ in texts]
        for output in self.outputs(texts):
            for i, row in enumerate(output.rows()):
                results[i].scores[output.classifier] = row
                if output.spans is not None:
                    results[i].spans[output.classifier] = [s.as_dict() for s in output.spans[i]]
        return results

    def curves(self) -> dict[str, dict[str, Any]]:
        """``{classifier: {label: precision curve}}`` for resolving a policy's thresholds."""
        return {c.name: {label: c.precision_curves().get(label, []) for label in c.labels}
                for c in self.classifiers}

    def versions(self) -> dict[str, str]:
        return {c.name: c.version for c in self.classifiers}

    def labels(self) -> dict[str, list[str]]:
        return {c.name: list(c.labels) for c in self.classifiers}
