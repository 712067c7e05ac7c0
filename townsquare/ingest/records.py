"""The records that every importer produces and the loader writes.

An importer (JSONL, CSV/TSV, a dataset reader, the demo generator) turns its input into a
stream of these records. Every reference between records is by *external id*: the id the
platform (or dataset) brings. The loader maps external ids to internal keys.

The JSONL format is exactly these models, one object per line, with a ``type`` field:

    {"type": "user", "id": "u1", "handle": "ada", "display_name": "Ada", "bio": "...", ...}
    {"type": "post", "id": "p1", "author": "u1", "text": "hello #intro", "created_at": "..."}
    {"type": "follow", "source": "u2", "target": "u1"}          # also "block", "mute"
    {"type": "interaction", "user": "u2", "post": "p1", "kind": "like", "created_at": "..."}
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)  # clocks disagree; a record dated further ahead is a mistake

HASHTAG = re.compile(r"(?<![\w#])#(\w{1,100})")
# A handle as ``UserRecord`` allows it (letters, digits, "_", ".", "-"; Bluesky's are domains such as
# ada.bsky.social), ending on a letter, digit or "_", so "@ada." at a sentence's end names "ada".
# Until session 14 this was ``@(\w{1,64})``, which read "@finn.d" as "finn".
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,62}[A-Za-z0-9_])?)")


class InteractionKind(StrEnum):
    view = "view"
    click = "click"
    dwell = "dwell"  # value: milliseconds
    like = "like"
    reply = "reply"
    repost = "repost"
    bookmark = "bookmark"
    share = "share"
    hide = "hide"
    not_interested = "not_interested"
    report = "report"
    rating = "rating"  # value: the rating a dataset brings (MovieLens stars, Last.fm plays)


NEGATIVE_KINDS = frozenset({InteractionKind.hide, InteractionKind.not_interested, InteractionKind.report})


class EdgeKind(StrEnum):
    follow = "follow"
    block = "block"
    mute = "mute"


class Visibility(StrEnum):
    public = "public"
    followers = "followers"
    private = "private"


ExternalId = Annotated[str, Field(min_length=1, max_length=256)]


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC (naive times are taken as UTC), at most a day ahead of this machine's
    clock. Subtracting the offset is much cheaper than ``astimezone`` with pydantic's tzinfo class,
    and this runs for every record."""
    if value.tzinfo is None or value.tzinfo is UTC:
        value = value.replace(tzinfo=UTC)
    else:
        offset = value.utcoffset()
        try:
            value = (value - offset if offset else value).replace(tzinfo=UTC)
        except OverflowError:  # 0001-01-01T00:00+14:00 is before the first day a datetime holds
            raise ValueError(f"{value.isoformat()} is out of range in UTC") from None
    if value > datetime.now(UTC) + AHEAD:
        raise ValueError(f"{value.isoformat()} is in the future (at most a day ahead of now, in UTC)")
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def no_nul(text: str) -> str:
    """A field validator: no 0x00 (PostgreSQL cannot store it, and no id or text means it)."""
    if "\x00" in text:
        raise ValueError("contains a NUL (0x00) character")
    return text


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    @model_validator(mode="after")
    def _no_nul(self) -> Record:
        """No 0x00 in any text: PostgreSQL cannot store it, and no post means it."""
        for name, value in self.__dict__.items():
            if isinstance(value, str) and "\x00" in value or (
                    isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value)):
                raise ValueError(f"{name} contains a NUL (0x00) character")
        return self


class UserRecord(Record):
    type: Literal["user"] = "user"
    id: ExternalId
    handle: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
    display_name: Annotated[str, Field(max_length=128)] = ""
    bio: Annotated[str, Field(max_length=2000)] = ""
    language: Annotated[str, Field(min_length=2, max_length=16)] = "en"
    created_at: datetime = Field(default_factory=_now)  # unset: when the record arrives
    # Topics or text a user gives at sign-up; the cold-start source reads them.
    interests: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=50)

    _utc_created = field_validator("created_at")(as_utc)


class PostRecord(Record):
    type: Literal["post"] = "post"
    id: ExternalId
    author: ExternalId
    text: Annotated[str, Field(max_length=20000)]
    created_at: datetime = Field(default_factory=_now)  # unset: when the record arrives
    reply_to: ExternalId | None = None
    quote_of: ExternalId | None = None
    repost_of: ExternalId | None = None
    language: Annotated[str, Field(min_length=2, max_length=16)] = "en"
    visibility: Visibility = Visibility.public
    deleted: bool = False
    # Derived from the text when not given.
    hashtags: list[str] | None = None
    mentions: list[str] | None = None

    _utc_created = field_validator("created_at")(as_utc)

    @model_validator(mode="after")
    def _derive_tags(self) -> PostRecord:
        if self.hashtags is None:
            object.__setattr__(self, "hashtags", sorted({t.lower() for t in HASHTAG.findall(self.text)}))
        if self.mentions is None:
            object.__setattr__(self, "mentions", sorted({m.lower() for m in MENTION.findall(self.text)}))
        if self.reply_to is not None and self.reply_to == self.id:
            raise ValueError("a post cannot reply to itself")
        if self.id in (self.quote_of, self.repost_of):
            raise ValueError(f"a post cannot {'quote' if self.quote_of == self.id else 'repost'} itself")
        return self


class EdgeRecord(Record):
    type: Literal["follow", "block", "mute"] = "follow"
    source: ExternalId
    target: ExternalId
    created_at: datetime = Field(default_factory=_now)  # unset: when the record arrives
    removed: bool = False  # an unfollow, unblock or unmute: the edge is taken away

    _utc_created = field_validator("created_at")(as_utc)

    @model_validator(mode="after")
    def _not_self(self) -> EdgeRecord:
        if self.source == self.target:
            raise ValueError(f"a user cannot {self.type} themselves")
        return self

    @property
    def kind(self) -> EdgeKind:
        return EdgeKind(self.type)


class InteractionRecord(Record):
    type: Literal["interaction"] = "interaction"
    user: ExternalId
    post: ExternalId
    kind: InteractionKind
    # unset: 1970-01-01, so that a file without times imported twice adds each event once
    created_at: datetime = EPOCH
    value: float | None = Field(default=None, ge=0.0, le=1e9, allow_inf_nan=False)

    _utc_created = field_validator("created_at")(as_utc)


AnyRecord = Annotated[UserRecord | PostRecord | EdgeRecord | InteractionRecord, Field(discriminator="type")]


class LabelledText(BaseModel):
    """One line of the canonical labelled-text JSONL that training and evaluation read."""

    model_config = ConfigDict(extra="allow")

    text: Annotated[str, Field(min_length=1)]
    # 0 and 1 in JSON are the labels "0" and "1", as in a CSV file; true/false and floats are not labels
    label: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v)]

    @field_validator("text")
    @classmethod
    def _some_text(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("is only spaces; every labelled text needs some words")
        return text

    @field_validator("label")
    @classmethod
    def _some_label(cls, label: str) -> str:
        if not label.strip():  # as a CSV row with an empty label cell is refused
            raise ValueError("is empty; every labelled text needs a label")
        return label
