"""A community's moderation policy: calibrated scores in, an action with its reasons out.

A policy file (TOML) lists rules; each rule watches one label of one classifier and names an
action: ``allow``, ``label``, ``demote`` (with a ``factor``), ``review`` (send to the moderation
queue) or ``hide``. A rule's threshold is either given (``threshold = 0.8``) or chosen from the
classifier's calibrated held-out scores to reach a stated precision (``min_precision = 0.9``):
the lowest score at which at least that share of flagged texts truly had the label.

Precision depends on how common the label is. The held-out data of the shipped heads is a third
offensive; a community where 2% of posts are would see far more false alarms at the same
threshold. A policy's ``[prevalence]`` table states the share of the community's posts that have
a label (``offensive = { offensive = 0.02 }``), and ``min_precision`` is then met at that share:
each point of the held-out precision curve is moved to it by Bayes' rule (``at_prevalence``).

``Policy.decide(scores)`` is what the feed, reply suggestions and ingest call: the most severe
action of the rules that fire, the product of the demotion factors, the reasons (the most severe
rule's for each classifier and label) and the label of every label rule that fires.
``PolicyWatch`` keeps a running server's policy in step with its file.
"""

from __future__ import annotations

import logging
import os
import threading
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from townsquare.errors import ConfigError

log = logging.getLogger(__name__)

Action = Literal["allow", "label", "demote", "review", "hide"]
SEVERITY: dict[str, int] = {"allow": 0, "label": 1, "demote": 2, "review": 3, "hide": 4}
MODERATOR = "moderator"  # the "classifier" of a reason that is a moderator's decision
USER_REPORTS = "user_reports"  # the "classifier" of a reason that is a user's report


class Rule(BaseModel):
    """When ``classifier``'s probability of ``label`` reaches the threshold, take ``action``."""

    model_config = ConfigDict(extra="forbid")
    classifier: str
    label: str
    action: Action
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    min_precision: float | None = Field(None, gt=0.0, le=1.0)
    factor: float = Field(1.0, gt=0.0, le=1.0, description="Score multiplier for demote.")
    note: str = ""

    @model_validator(mode="after")
    def _one_threshold(self) -> Rule:
        if (self.threshold is None) == (self.min_precision is None):
            raise ValueError("give exactly one of threshold or min_precision")
        if self.action == "demote" and self.factor >= 1.0:
            raise ValueError("a demote rule needs a factor below 1, e.g. factor = 0.5")
        if self.action != "demote" and "factor" in self.model_fields_set:
            raise ValueError(f"factor applies to demote rules only; this rule would {self.action}")
        if self.action == "allow":
            raise ValueError("an allow rule does nothing: a post no rule flags is allowed; to flag fewer posts, "
                             "raise the threshold (or min_precision) of the rule that flags them")
        return self


Share = Annotated[float, Field(gt=0.0, lt=1.0)]


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    community: str = "default"
    description: str = ""
    prevalence: dict[str, dict[str, Share]] = Field(
        default_factory=dict, description="{classifier: {label: share of this community's posts with the label}}")
    moderator_demote_factor: float = Field(
        0.5, gt=0.0, lt=1.0, description="Score multiplier for a post a moderator decided to demote.")
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_repeats(self) -> PolicyFile:
        """Two rules for the same classifier, label and action would compound (two demotions by 0.5 make 0.25)."""
        seen: dict[tuple[str, str, str], int] = {}
        for at, rule in enumerate(self.rules):
            key = (rule.classifier, rule.label, rule.action)
            if key in seen:
                raise ValueError(f"rules {seen[key]} and {at} both {rule.action} {rule.classifier}/{rule.label}; "
                                 "keep one")
            seen[key] = at
        return self


@dataclass(frozen=True)
class Reason:
    """Why a rule fired: which classifier, which label, its score, the threshold, the spans."""

    classifier: str
    label: str
    score: float
    threshold: float
    action: str
    factor: float = 1.0
    precision: float | None = None
    spans: tuple[dict[str, Any], ...] = ()
    prevalence: float | None = None  # the share of posts with the label at which ``precision`` holds

    @property
    def label_words(self) -> str:
        """The label as a reader sees it: "personal data" for ``personal_data``."""
        return self.label.replace("_", " ")

    @property
    def in_words(self) -> str:
        """The reason as a user reads it, without scores: "personal data", "a moderator decided: hide"."""
        return f"a moderator decided: {self.action}" if self.classifier == MODERATOR else self.label_words

    def explain(self) -> str:
        if self.classifier == MODERATOR:
            return f"a moderator decided: {self.action}" + (f" x{self.factor:g}" if self.action == "demote" else "")
        what = f"{self.classifier}: {self.label} {self.score:.2f} >= {self.threshold:.2f}"
        if self.precision is not None:
            what += f" (precision {self.precision:.0%} at this threshold"
            what += f" if {self.prevalence:.0%} of posts are {self.label})" if self.prevalence else ")"
        if self.spans:
            what += "; spans: " + ", ".join(f"{s['kind']} at {s['start']}-{s['end']}" for s in self.spans)
        return f"{self.action}" + (f" x{self.factor:g}" if self.action == "demote" else "") + f" because {what}"


@dataclass(frozen=True)
class Decision:
    """What to do with one text. ``factor`` multiplies a feed score (1.0: no demotion)."""

    action: str = "allow"
    factor: float = 1.0
    reasons: tuple[Reason, ...] = ()
    review: bool = False

    @property
    def hidden(self) -> bool:
        return self.action == "hide"

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels a post shows for the rules that label it, in words and in order ("offensive")."""
        return tuple(dict.fromkeys(r.label_words for r in self.reasons if r.action == "label"))

    def explain(self) -> list[str]:
        return [reason.explain() for reason in self.reasons]


@dataclass
class ResolvedRule:
    rule: Rule
    threshold: float
    precision: float | None
    prevalence: float | None = None  # the share of posts with the label that ``precision`` assumes


@dataclass
class Policy:
    """A community's rules with their thresholds resolved."""

    community: str
    rules: list[ResolvedRule] = field(default_factory=list)
    source: str = "built-in default"
    moderator_demote_factor: float = 0.5

    def moderator_decision(self, action: str, labels: Mapping[str, str] | None = None) -> Decision:
        """What a moderator's action means for the feed and the pages (it replaces the models' decision).
        A "label" shows the decision's labels (``{classifier: label}``, the flags the moderator confirmed;
        a user's report is not a label), else "by a moderator"."""
        if action == "allow":
            return Decision()
        factor = self.moderator_demote_factor if action == "demote" else 1.0
        if action != "label":
            return Decision(action, factor, (Reason(MODERATOR, action, 1.0, 1.0, action, factor),), False)
        shown = [label for classifier, label in (labels or {}).items() if classifier != USER_REPORTS]
        reasons = tuple(Reason(MODERATOR, label, 1.0, 1.0, "label") for label in dict.fromkeys(shown or ["by a moderator"]))
        return Decision("label", 1.0, reasons, False)

    def decide(self, scores: Mapping[str, Mapping[str, float]],
               spans: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> Decision:
        """The decision for one text, given ``{classifier: {label: probability}}``."""
        reasons = []
        for resolved in self.rules:
            rule = resolved.rule
            score = scores.get(rule.classifier, {}).get(rule.label)
            if score is None or score < resolved.threshold or rule.action == "allow":
                continue
            found = tuple(dict(s) for s in (spans or {}).get(rule.classifier, ()))
            reasons.append(Reason(rule.classifier, rule.label, float(score), resolved.threshold, rule.action,
                                  rule.factor if rule.action == "demote" else 1.0, resolved.precision, found,
                                  resolved.prevalence))
        if not reasons:
            return Decision()
        action = max((r.action for r in reasons), key=SEVERITY.__getitem__)
        factor = 1.0
        for r in reasons:
            factor *= r.factor
        review = any(r.action in ("review", "hide") for r in reasons)
        reasons.sort(key=lambda r: (-SEVERITY[r.action], -r.score))
        # one reason per classifier and label, its most severe rule's: a post that passes a review rule and a
        # hide rule for personal data shows its spans once. A label rule that fired is kept as well, whatever
        # else fired (a post demoted for being offensive still shows the label "offensive"); its spans are
        # left with the more severe reason, so that they still show once.
        worst: dict[tuple[str, str], Reason] = {}
        labelled: list[Reason] = []
        for r in reasons:
            kept = worst.setdefault((r.classifier, r.label), r)
            if r.action == "label" and kept is not r:
                labelled.append(replace(r, spans=()))
        return Decision(action, factor, tuple(worst.values()) + tuple(labelled), review)

    def take(self, other: Policy) -> None:
        """Follow ``other`` from now on, in place: every component holding this policy does too. Each field
        is one assignment: a decision under way keeps the rules list it started with."""
        for f in fields(self):
            setattr(self, f.name, getattr(other, f.name))

    def describe(self) -> list[dict[str, Any]]:
        return [{"classifier": r.rule.classifier, "label": r.rule.label, "action": r.rule.action,
                 "factor": r.rule.factor, "threshold": round(r.threshold, 4),
                 "min_precision": r.rule.min_precision, "precision": r.precision, "prevalence": r.prevalence}
                for r in self.rules]


def threshold_for_precision(curve: Sequence[Sequence[float]], min_precision: float,
                            where: str = "the classifier") -> tuple[float, float]:
    """The lowest threshold whose held-out precision reaches ``min_precision``.

    ``curve`` is (threshold, precision, recall) from low to high threshold. If no threshold
    reaches it, the most precise one is used (and its precision reported).
    """
    if not curve:
        raise ConfigError(f"{where} has no measured precision curve (a rule-based classifier, or a head "
                          "trained without held-out scores): give `threshold` instead of `min_precision`")
    for threshold, precision, _recall in curve:
        if precision >= min_precision:
            return float(threshold), float(precision)
    threshold, precision, _ = max(curve, key=lambda point: (point[1], point[0]))
    return float(threshold), float(precision)


def held_out_share(curve: Sequence[Sequence[float]]) -> float | None:
    """The share of held-out texts that had the label: the precision of the curve's first point, if
    that point flags every text (recall 1, as ``precision_curve`` makes it), else unknown."""
    return float(curve[0][1]) if curve and curve[0][2] >= 1.0 else None


def at_prevalence(curve: Sequence[Sequence[float]], prevalence: float) -> list[tuple[float, float, float]]:
    """The precision curve as it would be where ``prevalence`` of the texts have the label.

    Recall does not depend on how common the label is, and the odds of precision scale with the
    odds of the label (Bayes' rule): precision' / (1 - precision') = precision / (1 - precision)
    * [prevalence / (1 - prevalence)] / [base / (1 - base)]. ``base``, the held-out share, is the
    precision of the curve's first point, which flags every held-out text.
    """
    if not curve:
        return []
    base = held_out_share(curve)
    if base is None or not 0.0 < base < 1.0:
        raise ConfigError("this precision curve does not start at recall 1 (every text flagged), so the "
                          "held-out share of the label is unknown: leave `prevalence` out for it")
    ratio = (prevalence / (1 - prevalence)) / (base / (1 - base))

    def moved(precision: float) -> float:
        odds = precision / (1 - precision) * ratio
        return odds / (1 + odds)

    return [(float(t), 1.0 if p >= 1.0 else moved(p), float(r)) for t, p, r in curve]


Curves = Mapping[str, Mapping[str, Sequence[Sequence[float]]]]  # {classifier: {label: precision curve}}


def read_policy_file(path: Path | None) -> tuple[PolicyFile, str]:
    """The policy file ``path`` (the shipped default when None), checked for form, and its name."""
    if path is None:
        text, source = (resources.files("townsquare.safety") / "default_policy.toml").read_text(), "built-in default"
    else:
        if not Path(path).is_file():
            raise ConfigError(f"policy file {path} not found; give a TOML file (TOWNSQUARE_SAFETY_POLICY, or --policy "
                              "where a command has it), or neither for the built-in default")
        try:  # utf-8-sig: a byte-order mark some editors write is read past
            text, source = Path(path).read_text(encoding="utf-8-sig"), str(path)
        except UnicodeDecodeError as error:
            raise ConfigError(f"policy file {path} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
        except OSError as error:
            raise ConfigError(f"policy file {path} cannot be read: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"policy file {source} is not valid TOML: {error}") from None
    if "rules" not in data:  # an empty or half-saved file must not switch moderation off
        raise ConfigError(f"policy file {source} has no rules, so it would act on nothing (is it empty, or only "
                          "half saved?); to act on nothing on purpose, write: rules = []")
    try:
        return PolicyFile.model_validate(data), source
    except ValidationError as error:
        problems = [_problem(e, text) for e in error.errors()[:3]]
        more = f" (and {error.error_count() - 3} more)" if error.error_count() > 3 else ""
        raise ConfigError(f"policy file {source}: {'; '.join(problems)}{more}") from None


def _problem(error: dict, text: str) -> str:
    """One validation error in words, at the line of its ``[[rules]]`` table when it is in one."""
    loc = [str(p) for p in error["loc"]]
    where = ".".join(loc)
    if len(loc) >= 2 and loc[0] == "rules" and loc[1].isdecimal():
        starts = [n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith("[[rules]]")]
        if int(loc[1]) < len(starts):
            rest = ".".join(loc[2:])
            where = f"line {starts[int(loc[1])]}, the {_ordinal(int(loc[1]) + 1)} rule" + (f", {rest}" if rest else "")
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r} (a misspelling?)"
    return f"{where}: {message}" if where else message


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def check_policy_keeps_labels(path: Path | None, classifier: str, labels: Sequence[str]) -> None:
    """Refuse a classifier whose labels would break the policy in force: every label the policy names for
    ``classifier`` (in its rules and prevalence) must be among ``labels``."""
    parsed, source = read_policy_file(path)
    named = {r.label for r in parsed.rules if r.classifier == classifier} | set(parsed.prevalence.get(classifier, {}))
    if missing := sorted(named - set(labels)):
        raise ConfigError(f"the policy in force ({source}) acts on {classifier} label(s) {', '.join(missing)}, which "
                          f"the new labels ({', '.join(map(str, labels))}) lack: it would stop loading. Name the "
                          f"labels in the data as the policy does, train under another name, or edit the policy first")


def load_policy(path: Path | None, curves: Curves) -> Policy:
    """Read a policy file (the shipped default when ``path`` is None), resolving thresholds with
    ``curves`` = ``{classifier: {label: precision curve}}``."""
    parsed, source = read_policy_file(path)
    _check_prevalence(parsed.prevalence, curves, source)
    resolved = []
    for rule in parsed.rules:
        _check_label(curves, rule.classifier, rule.label, f"policy file {source}")
        if rule.threshold is not None:
            resolved.append(ResolvedRule(rule, rule.threshold, None))
            continue
        assert rule.min_precision is not None
        where = f"policy file {source}: {rule.classifier}/{rule.label}"
        curve = curves[rule.classifier][rule.label]
        share = parsed.prevalence.get(rule.classifier, {}).get(rule.label)
        if share is not None:
            try:
                curve = at_prevalence(curve, share)
            except ConfigError as error:
                raise ConfigError(f"{where}: {error}") from None
        threshold, precision = threshold_for_precision(curve, rule.min_precision, where)
        resolved.append(ResolvedRule(rule, threshold, precision, share if share is not None else held_out_share(curve)))
    return Policy(parsed.community, resolved, source, parsed.moderator_demote_factor)


def _check_prevalence(prevalence: Mapping[str, Mapping[str, float]],
                      curves: Curves, source: str) -> None:
    """Every ``[prevalence]`` entry names a classifier and one of its labels (a typo would silently do nothing)."""
    for classifier, shares in prevalence.items():
        _check_label(curves, classifier, None, f"policy file {source}: prevalence.{classifier}")
        for label in shares:
            _check_label(curves, classifier, label, f"policy file {source}: prevalence.{classifier}.{label}")


def _check_label(curves: Mapping[str, Mapping[str, Any]], classifier: str, label: str | None, where: str) -> None:
    if classifier not in curves:
        raise ConfigError(f"{where}: no classifier {classifier!r}; classifiers: {', '.join(sorted(curves))}")
    if label is not None and label not in curves[classifier]:
        raise ConfigError(f"{where}: classifier {classifier!r} has no label {label!r}; "
                          f"labels: {', '.join(curves[classifier])}")


class PolicyWatch:
    """A policy file and the ``policy`` read from it, kept in step: ``check()`` reads the file again
    when its modification time or size changed and the running server follows the new rules
    (``Policy.take``), then calls ``on_change``. An edit that does not load (bad TOML, an unknown
    label) leaves the policy as it was: ``error`` says why until a good edit loads. Starting up with a
    bad file still fails (``load_policy``): a server must not start unmoderated."""

    def __init__(self, path: Path, curves: Curves, on_change: Callable[[], None] = lambda: None) -> None:
        self.path, self.curves, self.on_change = Path(path), curves, on_change
        self.error: str | None = None
        self._seen = _stamp(self.path)  # before reading: an edit made while it loads is seen next time
        self.policy = load_policy(self.path, curves)
        self._stop = threading.Event()

    def check(self) -> bool:
        """Read the file again if it changed; True when the policy changed."""
        stamp = _stamp(self.path)
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            fresh = load_policy(self.path, self.curves)
        except ConfigError as error:
            self.error = f"{error}; the policy read before stays in force"
            log.error("%s", self.error)
            return False
        self.policy.take(fresh)
        self.error = None
        log.warning("policy file %s read again: %d rules now in force", self.path, len(fresh.rules))
        self.on_change()
        return True

    def start(self, every_s: float = 5.0) -> PolicyWatch:
        """Check every ``every_s`` seconds in a background thread until ``stop()``."""

        def run() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.check()
                except Exception:  # the watch must outlive any one failure
                    log.exception("checking the policy file %s failed", self.path)

        threading.Thread(target=run, name="policy-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
