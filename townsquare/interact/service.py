"""Build the interaction components from settings: ``build_interact(settings, store) -> Interact``.

The CLI and the web app call this once and pass the parts down. Pointing
``TOWNSQUARE_GENERATOR_BACKEND=openai`` at a stronger model changes the generator everywhere
without code changes; the scorer, filters and safety checks stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from townsquare.interact.assistant import Assistant
from townsquare.interact.candidates import BankSource, GeneratedSource, StockSource
from townsquare.interact.draft import Drafter
from townsquare.interact.scorer import ResponseScorer
from townsquare.interact.suggest import ReplySuggester
from townsquare.settings import Settings

# The shipped scorer's score of an average good DailyDialog++ reply is far above this; below it
# even the best candidate is a worse fit than most random replies (see docs/interact.md).
DEFAULT_MIN_FIT = 2.0


@dataclass
class Interact:
    suggester: ReplySuggester
    drafter: Drafter
    assistant: Assistant


def build_interact(settings: Settings, store, *, generator=None, use_generator: bool = True,
                   min_fit: float = DEFAULT_MIN_FIT, record: bool = True, safety_scorer=None,
                   policy=None) -> Interact:
    """Every component over one embedder (cached in the store), one safety scorer and one policy: the
    community's (the ``safety_policy`` setting, else the built-in one), the policy the feed follows.
    A caller that holds a scorer and policy already (the web app) passes them in.

    The safety scorer keeps its own encoder: its heads read the moderation encoder's vectors,
    not the general embedder's.
    """
    from townsquare.models import get_embedder, get_generator
    from townsquare.safety import ReplySafetyCheck, SafetyScorer, load_policy

    embedder = get_embedder(settings, cache=store)
    if safety_scorer is None:
        safety_scorer = SafetyScorer.load(data_dir=settings.data_dir, threads=settings.threads)
    if policy is None:
        policy = load_policy(settings.safety_policy, safety_scorer.curves())
    safety = ReplySafetyCheck(safety_scorer, policy)
    if generator is None and use_generator:
        generator = get_generator(settings)
    scorer = ResponseScorer.load(data_dir=settings.data_dir)
    sources = [BankSource.from_store(store, embedder, policy), StockSource()] + ([GeneratedSource(generator)] if generator is not None else [])
    suggester = ReplySuggester(store, embedder, scorer, sources, safety, policy, safety_scorer=safety_scorer,
                               min_fit=min_fit, record=record)
    return Interact(suggester, Drafter(store, embedder, generator, safety), Assistant(store, embedder, policy))
