"""Build the interaction components from settings: ``build_interact(settings, store) -> Interact``.

The CLI and the web app call this once and pass the parts down. Pointing
``TOWNSQUARE_GENERATOR_BACKEND=openai`` at a stronger model changes the generator everywhere
without code changes; the scorer, filters and safety checks stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from townsquare.interact.assistant import Assistant
from townsquare.interact.bank import ResponseBank
from townsquare.interact.candidates import BankSource, GeneratedSource, StockSource
from townsquare.interact.draft import Drafter
from townsquare.interact.scorer import ResponseScorer
from townsquare.interact.suggest import ReplySuggester
from townsquare.settings import Settings

# The shipped scorer's score of an average good DailyDialog++ reply is far above this; below it
# even the best candidate is a worse fit than most random replies (see docs/interact.md).
DEFAULT_MIN_FIT = 2.0


def interaction_policy(scorer, path=None):
    """The community policy; if it names classifiers this install lacks, its rules for the ones it has.

    Suggestions must always pass the safety classifiers that exist, so a missing trained head
    narrows the policy (with a note in ``policy.source``) instead of disabling every check.
    """
    import tomllib
    from importlib import resources

    from townsquare.errors import ConfigError
    from townsquare.safety import load_policy
    from townsquare.safety.policy import Policy, PolicyFile, ResolvedRule, threshold_for_precision

    try:
        return load_policy(path, scorer.curves())
    except ConfigError:
        if path is not None:
            raise
    curves = scorer.curves()
    parsed = PolicyFile.model_validate(tomllib.loads(
        (resources.files("townsquare.safety") / "default_policy.toml").read_text()))
    resolved = []
    for rule in parsed.rules:
        if rule.label not in curves.get(rule.classifier, {}):
            continue
        if rule.threshold is not None:
            resolved.append(ResolvedRule(rule, rule.threshold, None))
        else:
            threshold, precision = threshold_for_precision(curves[rule.classifier][rule.label], rule.min_precision,
                                                           f"{rule.classifier}/{rule.label}")
            resolved.append(ResolvedRule(rule, threshold, precision))
    return Policy(parsed.community, resolved, "built-in default, narrowed to the installed classifiers: "
                  + ", ".join(sorted(curves)))


@dataclass
class Interact:
    suggester: ReplySuggester
    drafter: Drafter
    assistant: Assistant


def build_interact(settings: Settings, store, *, generator=None, use_generator: bool = True,
                   min_fit: float = DEFAULT_MIN_FIT, record: bool = True) -> Interact:
    """Every component over one embedder (cached in the store), one safety scorer and one policy.

    The safety scorer keeps its own encoder: its heads read the moderation encoder's vectors,
    not the general embedder's.
    """
    from townsquare.models import get_embedder, get_generator
    from townsquare.safety import ReplySafetyCheck, SafetyScorer

    embedder = get_embedder(settings, cache=store)
    safety_scorer = SafetyScorer.load(data_dir=settings.data_dir, threads=settings.threads)
    policy = interaction_policy(safety_scorer)
    safety = ReplySafetyCheck(safety_scorer, policy)
    if generator is None and use_generator:
        generator = get_generator(settings)
    scorer = ResponseScorer.load(data_dir=settings.data_dir)
    bank = ResponseBank.from_store(store, embedder)
    sources = [BankSource(bank), StockSource()] + ([GeneratedSource(generator)] if generator is not None else [])
    suggester = ReplySuggester(store, embedder, scorer, sources, safety, policy, safety_scorer=safety_scorer,
                               min_fit=min_fit, record=record)
    return Interact(suggester, Drafter(store, embedder, generator, safety), Assistant(store, embedder, policy))
