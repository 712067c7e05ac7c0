"""Rules, for what no labelled data here covers: personal data and spam (as classifiers), and violent speech.

``PersonalDataClassifier`` reads ``townsquare.models.pii`` (emails, phones, street addresses,
Luhn-checked card numbers, identity numbers: US social security numbers, IBANs with their mod-97
check, UK national insurance numbers; dates of birth: a full date after "born", "DOB" or "date of
birth"), the same finder that masks text before it leaves the machine. It returns the spans, not
only a flag.

``SpamClassifier`` scores promotional and automated-looking posts from a few transparent
signals. No labelled spam data ships with townsquare, so its probabilities are not calibrated on
data: train a head on your own moderators' spam decisions (``townsquare train classifier spam
--data FILE``) and it replaces this one.

The probabilities of both are per-signal confidences combined as independent evidence
(``1 - prod(1 - c)``); they are set by hand, documented in the cards, and checked on fixtures.

``find_violent_speech`` finds threats, incitement to self-harm, death wishes and dehumanising
language. It is not a classifier of posts (no data here measures its precision on them): it is the
hard floor under everything townsquare writes for a user (``gate.ReplySafetyCheck``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np

from townsquare.models.pii import find_pii
from townsquare.safety.base import Classifier, ClassifierOutput, Span
from townsquare.safety.features import TextBatch

# How sure a match of each kind is personal data (hand-set, see the module docstring).
PII_CONFIDENCE = {"email": 0.9, "card": 0.97, "ssn": 0.95, "iban": 0.97, "national_insurance": 0.9,
                  "phone": 0.85, "address": 0.8, "birth_date": 0.6}

def find_personal_data(text: str) -> list[Span]:
    """Non-overlapping personal-data spans (``townsquare.models.pii.find_pii``), as trust & safety spans."""
    return [Span(found.start, found.end, found.kind, found.text) for found in find_pii(text)]


def _combine(confidences: list[float]) -> float:
    return 1.0 - float(np.prod([1.0 - c for c in confidences])) if confidences else 0.0


class PersonalDataClassifier(Classifier):
    """Labels ``none`` / ``personal_data``, with the spans found."""

    name = "personal_data"
    labels = ["none", "personal_data"]  # noqa: RUF012 (read-only, as in every Classifier)
    version = "rules-2"

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {
            "kind": "rules", "data": "none: regular expressions with checksums (Luhn, IBAN mod-97)",
            "confidence": PII_CONFIDENCE,
            "limits": "phones only in the shapes people write them (with +country code, a trunk 0, an area code "
                      "in brackets, 3-3-4, Indian 5-5), so a row of plain numbers is not one and a number "
                      "written as plain digits of another shape is missed; street addresses in English "
                      "need a house number and a street word; "
                      "a date of birth needs its year and a word that says so (born, DOB, date of birth); "
                      "names and free-form ids are not detected.",
            "precision_curves": {"none": [], "personal_data": []},  # not measured: policies give thresholds
        }

    def predict(self, batch: TextBatch) -> ClassifierOutput:
        spans = [find_personal_data(text) for text in batch.texts]
        p = np.array([_combine([PII_CONFIDENCE[s.kind] for s in found]) for found in spans], dtype=np.float32)
        return ClassifierOutput(self.name, self.labels, np.stack([1.0 - p, p], axis=1), spans)


_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_PROMO = re.compile(r"\b(?:free|win(?:ner)?|prize|giveaway|click|subscribe|discount|% ?off|promo(?:tion)?|"
                    r"buy now|order now|limited offer|cash|earn \$?\d+|make money|crypto|airdrop|bitcoin|"
                    r"dm (?:me|us)|follow (?:me|back)|followers|check out my|link in (?:bio|profile))\b", re.IGNORECASE)
# (?<!\d): a run of digits is tried from its first digit only; from every digit, 20,000 digits took 12 s
_MONEY = re.compile(r"[$€£]\s?\d[\d,.]*|(?<!\d)\d+\s?(?:usd|dollars|euros)\b", re.IGNORECASE)
_REPEAT = re.compile(r"(.)\1{5,}")
_CONTACT = re.compile(r"\b(?:whatsapp|telegram|wa\.me|t\.me)\b", re.IGNORECASE)

# (signal, confidence that a post showing it is spam); hand-set, see the module docstring.
SPAM_SIGNALS = {"promo_words_2plus": 0.55, "promo_word": 0.2, "money": 0.2, "two_plus_links": 0.35,
                "link": 0.1, "hashtags_5plus": 0.35, "mentions_5plus": 0.35, "contact_app": 0.4,
                "shouting": 0.2, "repeated_chars": 0.15}


def spam_signals(text: str) -> list[str]:
    """The spam signals a text shows (names from ``SPAM_SIGNALS``)."""
    found = []
    promos = len(_PROMO.findall(text))
    if promos >= 2:
        found.append("promo_words_2plus")
    elif promos == 1:
        found.append("promo_word")
    if _MONEY.search(text):
        found.append("money")
    links = len(_URL.findall(text))
    if links >= 2:
        found.append("two_plus_links")
    elif links == 1:
        found.append("link")
    if text.count("#") >= 5:
        found.append("hashtags_5plus")
    if text.count("@") >= 5:
        found.append("mentions_5plus")
    if _CONTACT.search(text):
        found.append("contact_app")
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        found.append("shouting")
    if _REPEAT.search(text):
        found.append("repeated_chars")
    return found


class SpamClassifier(Classifier):
    """Labels ``ham`` / ``spam`` from transparent signals (not trained: no labelled spam data here)."""

    name = "spam"
    labels = ["ham", "spam"]  # noqa: RUF012 (read-only, as in every Classifier)
    version = "rules-1"

    def __init__(self) -> None:
        self.meta = {
            "kind": "rules", "data": "none: hand-set signals; retrain on your moderators' decisions",
            "signals": SPAM_SIGNALS,
            "limits": "Not calibrated on data. Misses spam that reads like ordinary posts, flags "
                      "genuine giveaways; repeated posting across accounts needs the store, not one text.",
            "precision_curves": {"ham": [], "spam": []},  # not measured: policies give thresholds
        }

    def predict(self, batch: TextBatch) -> ClassifierOutput:
        p = np.array([_combine([SPAM_SIGNALS[s] for s in spam_signals(t)]) for t in batch.texts], np.float32)
        return ClassifierOutput(self.name, self.labels, np.stack([1.0 - p, p], axis=1))


# -- violent speech: what no text the engine writes for a user may contain ------------------------
# Hand-written, as no labelled data here covers it (TweetEval's offensive and hate heads scored "you
# should kill yourself" 0.43 offensive, under what the policy acts on). Matched on ``plain_reading``:
# compatibility forms folded (fullwidth letters), zero-width characters and accents dropped, Cyrillic
# and Greek look-alikes read as Latin, digits and symbols as the letters they stand for ("k1ll"),
# letters spelt out one by one joined ("k.i.l.l", "k i l l"), hyphens and underscores as spaces.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))
_LOOKALIKES = str.maketrans("аеорсухіјкмтнвѕԁɡ" "αεοριτυνκ", "aeopcyxijkmthbsdg" "aeopitvnk")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "*": "i",
                       "\u2019": "", "'": "", "-": " ", "_": " "})
_SPELT_OUT = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][.\s*·•]){2,}[^\W\d_](?![^\W\d_])")
_BANG = re.compile(r"(?<=[^\W\d_])!(?=[^\W\d_])")  # "k!ll": "!" between letters reads as i; "kys!!!" keeps its "!"


def plain_reading(text: str) -> str:
    """The text as the violent-speech and sensitive-topic patterns read it (see above); lowercase."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    if re.search(r"[a-z]", text):  # Latin words with Cyrillic or Greek letters among them: look-alikes
        text = text.translate(_LOOKALIKES)
    text = _BANG.sub("i", text).translate(_LEET)
    return _SPELT_OUT.sub(lambda m: re.sub(r"[.\s*·•]", "", m.group(0)), text)


_PEOPLE = r"(?:you|u|ya|yall|you all|her|him|them|she|he|they|everyone|all of you|your \w+|ur \w+|[@#]\w+)"
_GROUP = (r"(?:you people|these people|those people|they|(?:all |the |these |those )?(?:immigrants|migrants|refugees|"
          r"foreigners|muslims|jews|christians|hindus|sikhs|blacks|whites|asians|latinos|gays|lesbians|trans people|"
          r"women|men|liberals|conservatives|democrats|republicans|\w+ans|\w+ese|\w+ish))")
_HARM = r"(?:kill|murder|shoot|stab|strangle|rape|hurt|bomb|behead|beat up)"
_PLACE = (r"(?:the |a |this |that |his |her |their |your |ur |my |our )?(?:\w+ )?(?:school|class|campus|church|mosque|"
          r"synagogue|temple|office|mall|store|shop|concert|party|building|house|home|place|station|airport|hospital|"
          r"rally|parade|stadium|club|bar|work|embassy|car)")
_ATTACK = rf"(?:shoot up|bomb|blow up|firebomb|torch|set fire to|burn down) {_PLACE}|burn {_PLACE} down"
_VIOLENCE = r"(?:raped|killed|murdered|shot|stabbed|hanged|hung|lynched|tortured|beaten|executed|gassed)"
_SELF = r"(?:yo)?(?:ur|u)?\s*sel(?:f|ves)"
VIOLENT_SPEECH = {
    "incitement to self-harm": re.compile(
        rf"\b(?:kil+|hang|off|end|unalive|neck|delete)\s*{_SELF}\b|\bk\s?y\s?s\b|"
        # "did you hurt yourself?", "you shoot yourself in the foot": these verbs only when urged
        rf"\b(?:go|should|just|please|pls|plz|better|need to|needs to|ought to|deserves? to|why dont (?:you|u))\s+"
        rf"(?:\w+\s+)?(?:hurt|cut|starve|shoot|burn)\s*{_SELF}\b(?! in the foot)|"
        r"\b(?:kill|hang) (?:herself|himself|themselves)\b|\bdrink bleach\b|"
        r"\b(?:should|go|just|please|better|deserves? to)\s+(?:\w+\s+)?(?:die|drop dead|jump off)\b(?! laughing)|"
        r"\b(?:matate|suicidate|tue toi|bring dich um|ammazzati|se mata|убеи себя|сдохни)\b"),
    "death wish": re.compile(
        rf"\b(?:hope|wish)\s+(?:that\s+)?{_PEOPLE}\s+(?:\w+\s+)?(?:die|dies|get killed|gets killed|burns?|rots?)\b"
        r"(?!\s+(?:laughing|of laughter|happy|down|out|off))|\b(?:wish|hope) (?:you|u) (?:were|was) dead\b|"
        r"\b(?:die|burn|rot) in (?:a fire|a hole|hell)\b|\bdrop dead\b|\bojala te mueras\b|"
        rf"\b(?:hope|wish)\s+(?:that\s+)?{_PEOPLE}\s+(?:\w+\s+){{0,2}}(?:gets?|catch(?:es)?)\s+(?:cancer|aids|ebola)\b"),
    "wishing violence": re.compile(
        rf"\b(?:{_PEOPLE}|{_GROUP})\s+(?:all\s+|both\s+|really\s+|just\s+)?(?:deserves?|should|ought to|needs? to|must)\s+(?:\w+\s+)?(?:to )?be {_VIOLENCE}\b(?! (?:by|in) (?:a|the) "
        r"(?:game|match|debate|election|polls?|reviews?))"),
    "threat": re.compile(
        r"\b(?:i|ill|i will|im|im going to|im gonna|i am going to|we|well|we will|were going to|gonna)\s+"
        rf"(?:\w+\s+){{0,4}}(?:{_HARM}\s+{_PEOPLE}|beat\s+{_PEOPLE}\s+(?:up|to death|senseless)|{_ATTACK})\b|"
        r"\b(?:you|u)(?:re| are) (?:going to|gonna) die\b|\bwatch (?:your|ur) back\b|\bi know where (?:you|u) live\b|"
        r"\b(?:te voy a matar|je vais te tuer|ich bringe dich um|ti ammazzo|vou te matar|убью тебя)\b"),
    "dehumanising": re.compile(
        r"\b(?:sub-?humans?|untermensch)\b|"
        rf"(?<!\bnot )(?<!\bnot all )\b(?:{_GROUP}\s+(?:are|is)|theyre)\s+(?:(?:just|all|nothing but|nothing more than|no better than|like|subhuman)\s+)*"
        r"(?:animals|rats|pigs|savages|apes|vermin|cockroaches|parasites|a plague|a disease|filth|trash|garbage|"
        r"property)\b|\bgo back (?:to|where) (?:your (?:own )?country|you came from)"),
}


# Words that every match of the slowest patterns holds (they try a group of people at every word, 26 and 15 us a
# tweet): a text without one is not searched further. Scoring every post, most have none.
_NEEDS = {
    "dehumanising": re.compile(r"sub-?human|untermensch|go back|animals|rats|pigs|savages|apes|vermin|cockroaches|"
                               r"parasites|plague|disease|filth|trash|garbage|property"),
    "wishing violence": re.compile(_VIOLENCE),
}


def find_violent_speech(text: str) -> list[Span]:
    """Spans of threats, incitement to self-harm, death wishes and dehumanising language, named by kind.
    A span indexes ``text`` where the plain reading kept every character in place; else it is the whole
    text (what matters is that something was found)."""
    plain = plain_reading(text)
    aligned = len(plain) == len(text)
    found = []
    for kind, pattern in VIOLENT_SPEECH.items():
        if kind in _NEEDS and not _NEEDS[kind].search(plain):  # a word every match holds is not there
            continue
        for match in pattern.finditer(plain):
            start, end = match.span() if aligned else (0, len(text))
            found.append(Span(start, end, kind, text[start:end]))
    return found


class ViolentSpeechClassifier(Classifier):
    """Labels ``none`` / ``violent_speech``, with the spans ``find_violent_speech`` finds: threats, incitement to
    self-harm, death wishes, violence wished on someone, dehumanising language. The classifiers trained on
    TweetEval let such posts through ("you should kill yourself": offensive 0.43); the built-in policy sends a
    match to review, where a moderator reads it, and never hides on the rules alone."""

    name = "violent_speech"
    labels = ["none", "violent_speech"]  # noqa: RUF012 (read-only, as in every Classifier)
    version = "rules-1"
    CONFIDENCE = 0.9  # what a match scores; no labelled data here gives a measured precision

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {
            "kind": "rules", "data": "none: hand-written patterns, read through disguised spellings (plain_reading)",
            "kinds": list(VIOLENT_SPEECH),
            "limits": "English and a few phrases in six other languages. On TweetEval's 32,688 tweets they match "
                      "55, mostly abuse; of the 7 in offensive, 2 are labelled not offensive. Quotes, reports "
                      "and fiction match like threats: send matches to review, not to hide.",
            "precision_curves": {"none": [], "violent_speech": []},  # not measured: policies give thresholds
        }

    def predict(self, batch: TextBatch) -> ClassifierOutput:
        spans = [find_violent_speech(text) for text in batch.texts]
        p = np.array([self.CONFIDENCE if found else 0.0 for found in spans], dtype=np.float32)
        return ClassifierOutput(self.name, self.labels, np.stack([1.0 - p, p], axis=1), spans)
