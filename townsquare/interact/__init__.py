"""Social interaction: reply suggestions, post drafting, a grounded assistant, and feedback.

- ``ReplySuggester.suggest(post_id, user_id) -> Suggestions(items, reasons)``
- ``Drafter.draft(user_id, prompt) -> Draft``, ``Drafter.rewrite(text, how) -> Draft``
- ``Assistant.answer(user_id, question) -> Answer(text, citations)``
- ``record_feedback(store, suggestion_id, outcome, final_text)``
- ``build_interact(settings, store)`` builds all three over shared models.

Nothing loads at import time. See docs/interact.md.
"""

from townsquare.interact.assistant import Answer, Assistant, Citation
from townsquare.interact.bank import BankEntry, ResponseBank
from townsquare.interact.candidates import BankSource, Candidate, GeneratedSource, StockSource
from townsquare.interact.draft import REWRITES, Draft, Drafter
from townsquare.interact.scorer import ResponseScorer
from townsquare.interact.service import Interact, build_interact
from townsquare.interact.store_io import record_feedback
from townsquare.interact.suggest import ReplySuggester, Suggestion, Suggestions
from townsquare.interact.voice import VoiceProfile, VoiceStyler

__all__ = ["REWRITES", "Answer", "Assistant", "BankEntry", "BankSource", "Candidate", "Citation", "Draft", "Drafter",
           "GeneratedSource", "Interact", "ReplySuggester", "ResponseBank", "ResponseScorer", "StockSource",
           "Suggestion", "Suggestions", "VoiceProfile", "VoiceStyler", "build_interact", "record_feedback"]
