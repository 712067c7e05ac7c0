"""Find personal data in text: emails, phone numbers, street addresses, payment card numbers.

``find_pii(text)`` returns non-overlapping spans with their kind; ``mask_pii(text)`` replaces
them with ``[EMAIL]``, ``[PHONE]``, ``[ADDRESS]``, ``[CARD]``. Used before any text leaves the
machine (remote generator backends) and by trust & safety.

Written as regular expressions on purpose: the libraries that do this well (presidio and the
like) need spaCy models downloaded at run time, which this project cannot do. The patterns lean
towards masking too much rather than too little; card numbers are confirmed with the Luhn check
so that long ids and order numbers are not masked as cards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PiiKind = Literal["email", "card", "address", "phone"]

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])")
_STREET_SUFFIX = (r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|"
                  r"square|sq|terrace|way|parkway|pkwy|highway|hwy|circle|cir|close|crescent|row)")
_ADDRESS = re.compile(
    r"\b\d{1,6}[A-Za-z]?,?\s+"                                        # house number
    r"(?:(?:[A-Z][a-z][\w'.-]*|\d+(?:st|nd|rd|th)|[NSEW]{1,2}\.?)\s+){1,4}"  # street name
    rf"(?i:{_STREET_SUFFIX})\b\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"     # street kind, direction
    r"(?:,?\s*(?i:apt|apartment|suite|unit|flat|#)\.?\s*[\w-]+)?"       # unit
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2})?"                     # city
    r"(?:,?\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?"                            # US state + ZIP
    r"|,?\s*[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b)?"                     # or UK postcode
)
_PO_BOX = re.compile(r"\b(?i:p\.?\s?o\.?\s*box)\s+\d+\b")
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]\d{2,5}){1,4}(?![\w-])"
    r"|(?<![\w+])0\d{2,4}[\s.-]\d{5,8}(?![\w-])"                       # 07700 900418, 0151 2345678
    r"|(?<![\w+])\+\d{7,15}\b"                                        # +4915112345678
    r"|(?<![\w+])\d{10,11}\b"                                          # 5551234567
)
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")

_PRIORITY = {"email": 0, "card": 1, "address": 2, "phone": 3}
_MASKS = {"email": "[EMAIL]", "card": "[CARD]", "address": "[ADDRESS]", "phone": "[PHONE]"}


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


def _is_phone(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15 or _DATE.fullmatch(candidate.strip()):
        return False
    if re.fullmatch(r"\d{4}-\d{4}", candidate):  # a range of years
        return False
    # "2019 2020" is two numbers, not a phone: two space-separated groups need a + or (area code),
    # or the trunk 0 and 10-11 digits of a national number ("07700 900418", "0151 2345678")
    return ("+" in candidate or "(" in candidate or len(candidate.split()) != 2
            or (candidate.startswith("0") and 10 <= len(digits) <= 11))


def _candidates(text: str) -> list[PiiSpan]:
    spans = [PiiSpan(m.start(), m.end(), "email", m.group()) for m in _EMAIL.finditer(text)]
    spans += [PiiSpan(m.start(), m.end(), "card", m.group()) for m in _CARD.finditer(text)
              if luhn_valid(re.sub(r"\D", "", m.group()))]
    for pattern in (_ADDRESS, _PO_BOX, _UK_POSTCODE):
        spans += [PiiSpan(m.start(), m.end(), "address", m.group().rstrip(",. ")) for m in pattern.finditer(text)]
    spans += [PiiSpan(m.start(), m.end(), "phone", m.group()) for m in _PHONE.finditer(text)
              if _is_phone(m.group())]
    return [PiiSpan(s.start, s.start + len(s.text), s.kind, s.text) for s in spans]


def find_pii(text: str) -> list[PiiSpan]:
    """Non-overlapping personal-data spans in ``text``, in order of position."""
    chosen: list[PiiSpan] = []
    for span in sorted(_candidates(text), key=lambda s: (_PRIORITY[s.kind], s.start, -(s.end - s.start))):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def mask_pii(text: str) -> str:
    """``text`` with each personal-data span replaced by a placeholder such as ``[EMAIL]``."""
    out, last = [], 0
    for span in find_pii(text):
        out += [text[last:span.start], _MASKS[span.kind]]
        last = span.end
    return "".join(out) + text[last:]
