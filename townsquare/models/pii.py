"""Find personal data in text: emails (also spelt out: "jane at gmail dot com"), phone numbers in the
shapes people write them (international, national with a trunk 0, NANP, ...), street addresses,
payment card numbers, identity numbers (IBANs, US social security and UK national insurance numbers)
and dates of birth (a full date after "born", "DOB" or "date of birth").

``find_pii(text)`` returns non-overlapping spans with their kind; ``mask_pii(text)`` replaces
them with ``[EMAIL]``, ``[PHONE]``, ``[ADDRESS]``, ``[CARD]``, ``[IBAN]``, ``[ID]``, ``[BIRTH DATE]``. Used before any text leaves the
machine (remote generator backends) and by trust & safety.

Text is read with full-width forms folded to ASCII (``０９０-１２３４`` is a phone number, ``＠`` an at
sign), one character for one, so spans are offsets into the text as given. Scripts written without
spaces between words (Chinese, Japanese, Korean, Thai, ...) are not word characters to the patterns'
edges: ``我的电话是13800138000`` holds a phone number and ``ada@example.org谢谢`` an email that ends
at ``org``.

Written as regular expressions on purpose: the libraries that do this well (presidio and the
like) need spaCy models downloaded at run time, which this project cannot do. The patterns lean
towards masking too much rather than too little; card numbers are confirmed with the Luhn check
so that long ids and order numbers are not masked as cards.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

PiiKind = Literal["email", "card", "iban", "ssn", "national_insurance", "address", "phone", "birth_date"]

# Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, CJK, kana, Hangul, half-width
# forms): a phone number or an email may touch them directly, so they do not count as word characters
# at a match's edges, nor in an email's local part and domain (which would swallow the sentence).
_NOSPACE = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff"
            "\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff")
_W = rf"[^\W{_NOSPACE}]"  # a word character of a script that spaces its words
_START, _END = rf"(?<!{_W})", rf"(?!{_W})"  # word edges that scripts without spaces do not block
_EMAIL = re.compile(rf"{_START}(?<![.+-])(?:{_W}|[.%+-])+@(?:{_W}|-)+(?:\.(?:{_W}|-)+)*\.[^\W\d_{_NOSPACE}]{{2,}}{_END}")
# "jane at gmail dot com", "jane [at] gmail [dot] co [dot] uk": spelt out so that scrapers miss it
_AT, _DOT = r"(?:\s+at\s+|\s*[\[(]at[\])]\s*)", r"(?:\s+dot\s+|\s*[\[(]dot[\])]\s*)"
_SPELT_EMAIL = re.compile(rf"(?i)(?<![\w.+-])[\w.+-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}"
                          r"(?:com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|ca|au|in|me|info|biz)\b")
_CARD = re.compile(r"(?<![\d+.-])\d(?:[ .-]?\d){12,18}(?![\d-]|\.\d)")
_STREET_SUFFIX = (r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|"
                  r"square|sq|terrace|way|parkway|pkwy|highway|hwy|circle|cir|close|crescent|row)")
# Street kinds that are everyday words too ("Top 10 Best Way to cook rice", "Game 7 Center Court tonight"):
# they make an address only where the address ends (punctuation, the end of the text) or a unit follows.
_COMMON_WORD_KINDS = frozenset({"way", "court", "ct", "place", "pl", "square", "sq", "circle", "cir", "close",
                                "crescent", "row", "drive", "dr", "terrace", "lane"})
_ADDRESS_ENDS = re.compile(r"\s*(?:[,;:!?)\]\"'\n]|$)|,?\s*(?i:apt|apartment|suite|unit|flat|#)")
# a number after these words counts games, chapters and rankings, not houses ("Game 7 Center Court")
_NOT_A_HOUSE_NUMBER = re.compile(r"(?i)\b(?:top|game|chapter|season|episode|round|level|week|page|part|vol|volume|"
                                 r"step|rank|ranked|act|scene|track|stage|match|quarter|pick|gate|platform)\.?\s*$")
_ADDRESS = re.compile(
    r"\b\d{1,6}[A-Za-z]?,?\s+"                                        # house number
    r"(?:(?:[A-Z][a-z][\w'.-]*|\d+(?:st|nd|rd|th)|[NSEW]{1,2}\.?)\s+){1,4}"  # street name
    rf"(?P<street>(?P<kind>(?i:{_STREET_SUFFIX}))\b\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?)"  # kind, direction
    r"(?:,?\s*(?i:apt|apartment|suite|unit|flat|#)\.?\s*[\w-]+)?"       # unit
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2})?"                     # city
    r"(?:,?\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?"                            # US state + ZIP
    r"|,?\s*[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b)?"                     # or UK postcode
)
_PO_BOX = re.compile(r"\b(?i:p\.?\s?o\.?\s*box)\s+\d+\b")
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")
# Phone numbers by the shapes they are written in, each with the digits it may hold. A row of numbers
# ("scores 21 18 25 22", "ratings 1500 1600 1700") has none of these shapes: no +, no trunk 0, no area
# code in brackets, no 3-3-4; and a shape followed by one more number is part of a longer row.
_SEP = r"[\s.-]"
_P0 = rf"{_START}(?<!\+)"  # a phone number starts after no word character and no +
_P1 = rf"(?!{_W}|-|[\s.-]\d)"  # and ends before none, and before no further number
_PHONES = (
    (re.compile(rf"{_P0}\+\d{{1,3}}(?:{_SEP}?\(\d{{1,4}}\))?(?:{_SEP}?\d{{1,8}}){{1,6}}{_P1}"), 8, 15),  # +33 6 12 34 56 78
    (re.compile(rf"{_P0}00[1-9]\d{{0,2}}(?:{_SEP}?\(\d{{1,4}}\))?(?:{_SEP}?\d{{1,8}}){{1,6}}{_P1}"), 10, 17),  # 0049 30 12345678
    (re.compile(rf"{_P0}\(\d{{2,5}}\){_SEP}?\d{{2,5}}(?:{_SEP}\d{{2,5}}){{0,2}}{_P1}"), 7, 12),  # (202) 225-3031
    (re.compile(rf"{_P0}0\d{{1,4}}(?:{_SEP}|/)\d{{2,8}}(?:{_SEP}\d{{2,8}}){{0,3}}{_P1}"), 9, 12),  # 0151 23456789
    (re.compile(rf"{_P0}\d{{3}}([\s.-])\d{{3}}\1\d{{4}}{_P1}"), 10, 10),  # 555-123-4567
    (re.compile(rf"{_P0}(?<!-)\d{{3}}-\d{{4}}{_P1}"), 7, 7),  # 555-1234
    (re.compile(rf"{_P0}[6-9]\d{{4}}[\s-]\d{{5}}{_P1}"), 10, 10),  # 98765 43210
)
# A bare run of digits (5551234567, 07405077156, 13800138000), unless what comes before says it is a
# number of something else: "ISBN 0306406152", "order #4829301746", "tracking no. 1Z..."
_BARE_PHONE = re.compile(rf"{_P0}(?:1?[2-9]\d{{9}}|0\d{{9,10}}){_END}")
_NOT_A_PHONE_BEFORE = re.compile(r"(?i)(?:#|\b(?:isbn(?:-?1[03])?|order|invoice|tracking|ref|reference|receipt|"
                                 r"transaction|confirmation|booking|ticket)(?:\s+(?:no|nr|number|id|code))?\.?\s*[:#]?)\s*$")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_IBAN = re.compile(rf"(?i){_START}[A-Z]{{2}}\d{{2}}(?:[ -]?[A-Z0-9]{{4}}){{2,7}}(?:[ -]?[A-Z0-9]{{1,4}})?{_END}")
_NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_FULL_DATE = (r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2}"    # 03/05/1988, 1988-05-03
              rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}")
# a full date (with its year) right after words that say it is someone's birth date
_BIRTH_DATE = re.compile(rf"(?i:\bborn(?:\s+on)?|\bd\.?o\.?b\.?|\bdate\s+of\s+birth)\s*(?:is\s+|:\s*)?(?i:({_FULL_DATE}))\b")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")

# Which kind wins where two overlap: identity numbers over the phone numbers they resemble.
_PRIORITY = {"email": 0, "card": 1, "iban": 1, "ssn": 1, "national_insurance": 1, "address": 2, "birth_date": 2,
             "phone": 3}
_MASKS = {"email": "[EMAIL]", "card": "[CARD]", "iban": "[IBAN]", "ssn": "[ID]", "national_insurance": "[ID]",
          "address": "[ADDRESS]", "phone": "[PHONE]", "birth_date": "[BIRTH DATE]"}


@dataclass(frozen=True)
class PiiSpan:
    """``text[start:end]`` is personal data of ``kind``."""

    start: int
    end: int
    kind: PiiKind
    text: str


def luhn_valid(digits: str) -> bool:
    total, double = 0, False
    for ch in reversed(digits):
        d = int(ch) * (2 if double else 1)
        total += d - 9 if d > 9 else d
        double = not double
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """The ISO 13616 mod-97 check."""
    code = re.sub(r"[ -]", "", candidate).upper()
    if not 15 <= len(code) <= 34:
        return False
    moved = code[4:] + code[:4]
    digits = "".join(str(int(ch, 36)) for ch in moved)
    return int(digits) % 97 == 1


def _is_phone(candidate: str, fewest: int, most: int) -> bool:
    digits = re.sub(r"\D", "", candidate)
    return fewest <= len(digits) <= most and not _DATE.fullmatch(candidate.strip()) \
        and not re.fullmatch(r"\d{4}-\d{4}", candidate)  # a range of years


@lru_cache(maxsize=4096)
def _folded(char: str) -> str:
    """``char`` as NFKC writes it when that is one ASCII character (full-width ``０`` is ``0``), else itself."""
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 and folded.isascii() else char


def _fold(text: str) -> str:
    """``text`` with full-width digits, letters and signs (and the ideographic space) as ASCII: one character
    for one, so an offset into it is an offset into ``text``."""
    return text if text.isascii() else "".join(map(_folded, text))


def _is_address(text: str, m: re.Match) -> bool:
    if _NOT_A_HOUSE_NUMBER.search(text, 0, m.start()):
        return False
    if m.group("kind").lower() not in _COMMON_WORD_KINDS or m.group("street").endswith("."):
        return True
    return m.end() > m.end("street") or bool(_ADDRESS_ENDS.match(text, m.end("street")))


def _candidates(text: str) -> list[PiiSpan]:
    spans = [PiiSpan(m.start(), m.end(), "email", m.group()) for p in (_EMAIL, _SPELT_EMAIL) for m in p.finditer(text)]
    spans += [PiiSpan(m.start(), m.end(), "card", m.group()) for m in _CARD.finditer(text)
              if luhn_valid(re.sub(r"\D", "", m.group()))]
    spans += [PiiSpan(m.start(), m.end(), "ssn", m.group()) for m in _SSN.finditer(text)]
    spans += [PiiSpan(m.start(), m.end(), "iban", m.group()) for m in _IBAN.finditer(text) if iban_valid(m.group())]
    spans += [PiiSpan(m.start(), m.end(), "national_insurance", m.group()) for m in _NINO.finditer(text)]
    spans += [PiiSpan(m.start(1), m.end(1), "birth_date", m.group(1)) for m in _BIRTH_DATE.finditer(text)]
    spans += [PiiSpan(m.start(), m.end(), "address", m.group().rstrip(",. ")) for m in _ADDRESS.finditer(text)
              if _is_address(text, m)]
    for pattern in (_PO_BOX, _UK_POSTCODE):
        spans += [PiiSpan(m.start(), m.end(), "address", m.group().rstrip(",. ")) for m in pattern.finditer(text)]
    spans += [PiiSpan(m.start(), m.end(), "phone", m.group()) for pattern, fewest, most in _PHONES
              for m in pattern.finditer(text) if _is_phone(m.group(), fewest, most)]
    spans += [PiiSpan(m.start(), m.end(), "phone", m.group()) for m in _BARE_PHONE.finditer(text)
              if _is_phone(m.group(), 10, 11) and not _NOT_A_PHONE_BEFORE.search(text, 0, m.start())]
    return [PiiSpan(s.start, s.start + len(s.text), s.kind, s.text) for s in spans]


def find_pii(text: str) -> list[PiiSpan]:
    """Non-overlapping personal-data spans in ``text``, in order of position (offsets into ``text`` as
    given; each span's ``text`` is its slice of it)."""
    folded = _fold(text)
    chosen: list[PiiSpan] = []
    for span in sorted(_candidates(folded), key=lambda s: (_PRIORITY[s.kind], s.start, -(s.end - s.start))):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    if folded is not text:
        chosen = [PiiSpan(s.start, s.end, s.kind, text[s.start:s.end]) for s in chosen]
    return sorted(chosen, key=lambda s: s.start)


def mask_pii(text: str) -> str:
    """``text`` with each personal-data span replaced by a placeholder such as ``[EMAIL]``."""
    out, last = [], 0
    for span in find_pii(text):
        out += [text[last:span.start], _MASKS[span.kind]]
        last = span.end
    return "".join(out) + text[last:]
