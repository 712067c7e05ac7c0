"""The demo timeline: originals, threads of replies, quotes, reposts and the flagged posts."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from townsquare.demo.content import Banks
from townsquare.demo.people import DemoUser
from townsquare.demo.writing import PostWriter

# Relative posting activity by hour of day (UTC), quiet at night, peaks at breakfast and evening.
HOUR_WEIGHTS = (1, .5, .3, .2, .2, .4, 1, 2.5, 3.5, 3, 2.5, 2.5, 3.5, 3, 2.5, 2.5, 2.5, 3, 3.5, 4, 4.5, 4, 3, 2)
TOXIC_TOP_LEVEL = (4, 10)
MAX_THREAD = 14  # replies in one thread at most  # toxic templates posted on their own, naming the target, not as replies


@dataclass
class DemoPost:
    key: int  # creation order, breaks ties in time
    author: DemoUser
    topic: str
    text: str
    created_at: datetime
    kind: str  # original | reply | quote | repost
    parent: DemoPost | None = None
    quoted: DemoPost | None = None  # quote_of for quotes, repost_of for reposts
    language: str = "en"
    label: str | None = None  # toxic | misleading | pii
    id: str = ""

    @property
    def root(self) -> DemoPost:
        post = self
        while post.parent is not None:
            post = post.parent
        return post


@dataclass(frozen=True)
class TimelinePlan:
    originals: int = 1000
    replies: int = 620
    quotes: int = 60
    reposts: int = 90


def interest(user: DemoUser, topic_id: str) -> float:
    """How much a user cares about a topic: main interests 1.0, sign-up extras 0.35, else 0.03."""
    if topic_id in user.topics:
        return 1.0 if user.topics[0] == topic_id else 0.85
    return 0.35 if topic_id in user.secondary else 0.03


class TimelineBuilder:
    """Builds every post of the demo in time order; ids are p00001... by time."""

    def __init__(self, banks: Banks, rng: random.Random, users: Sequence[DemoUser],
                 follows: dict[int, list[int]], start: datetime, end: datetime, plan: TimelinePlan = TimelinePlan()):
        self.banks, self.rng, self.users, self.follows = banks, rng, list(users), follows
        self.start, self.end, self.plan = start, end, plan
        self.writer = PostWriter(banks, rng)
        self.posts: list[DemoPost] = []
        self.regulars = [u for u in self.users if u.role == "regular"]

    def build(self) -> list[DemoPost]:
        self._originals()
        self._misleading()
        self._pii()
        self._replies()
        self._shares()
        self._toxic()
        self.posts.sort(key=lambda p: (p.created_at, p.key))
        for number, post in enumerate(self.posts, start=1):
            post.id = f"p{number:05d}"
        return self.posts

    # -- helpers -----------------------------------------------------------------------------
    def _add(self, **fields) -> DemoPost:
        post = DemoPost(key=len(self.posts), **fields)
        self.posts.append(post)
        return post

    def _time(self, after: datetime, before: datetime | None = None) -> datetime:
        """A moment in [after, before), more likely at busy hours."""
        before = before or self.end
        span = (before - after).total_seconds()
        for _ in range(50):
            moment = after + timedelta(seconds=self.rng.uniform(0, span))
            if self.rng.random() * 4.5 < HOUR_WEIGHTS[moment.hour]:
                break
        return moment.replace(microsecond=0)

    def _later(self, earlier: datetime, median_minutes: float = 40) -> datetime | None:
        """A reaction time after ``earlier``, or None if it would fall after the end."""
        delay = max(60.0, self.rng.lognormvariate(math.log(median_minutes * 60), 1.2))
        moment = (earlier + timedelta(seconds=delay)).replace(microsecond=0)
        return moment if moment < self.end else None

    def _friends(self, user: DemoUser) -> list[DemoUser]:
        return [self.users[i] for i in self.follows.get(user.index, [])]

    def _pick_topic(self, user: DemoUser) -> str:
        if user.secondary and self.rng.random() < 0.07:
            return self.rng.choice(user.secondary)
        weights = (0.55, 0.3, 0.15)[: len(user.topics)]
        return self.rng.choices(user.topics, weights=weights)[0]

    def _author_for(self, topic_id: str) -> DemoUser:
        candidates = [u for u in self.regulars if topic_id in u.topics and u.language == "en"]
        return self.rng.choice(candidates or [u for u in self.regulars if u.language == "en"])

    # -- posts -------------------------------------------------------------------------------
    def _originals(self) -> None:
        writers = [u for u in self.users if u.role == "regular"]
        counts = {u.index: 3 for u in writers}
        extra = self.plan.originals - 3 * len(writers)
        for u in self.rng.choices(writers, weights=[u.activity for u in writers], k=max(0, extra)):
            counts[u.index] += 1
        for u in self.users:
            if u.role != "regular":
                counts[u.index] = 4
        for user in self.users:
            for _ in range(counts[user.index]):
                topic = self._pick_topic(user)
                text = self.writer.original(user, topic, self._friends(user))
                self._add(author=user, topic=topic, text=text, created_at=self._time(max(self.start, user.created_at)),
                          kind="original", language=user.language)

    def _misleading(self) -> None:
        misinformers = [u for u in self.users if u.role == "misinformer"]
        for number, item in enumerate(self.banks.flagged["misleading"]):
            author = misinformers[number % len(misinformers)] if number % 3 != 2 else self._author_for(item["topic"])
            post = self._add(author=author, topic=item["topic"], text=item["text"], kind="original",
                             created_at=self._time(max(self.start, author.created_at), self.end - timedelta(days=1)),
                             label="misleading")
            self._debunk(post)

    def _debunk(self, post: DemoPost) -> None:
        count = self.rng.choice([0, 1, 1, 2])
        for n in range(count):
            candidates = [u for u in self.regulars if post.topic in u.topics and u.language == "en"]
            if not candidates:
                return
            user = self.rng.choice(candidates)
            when = self._later(post.created_at, 90)
            if when is not None and when >= user.created_at:
                self._add(author=user, topic=post.topic, text=self.writer.debunk(user, post.author, post.topic, n == 0),
                          created_at=when, kind="reply", parent=post)

    def _pii(self) -> None:
        for item in self.banks.flagged["pii"]:
            author = self._author_for(item["topic"])
            self._add(author=author, topic=item["topic"], text=item["text"], kind="original", label="pii",
                      created_at=self._time(max(self.start, author.created_at)))

    def _replier_weight(self, user: DemoUser, parent: DemoPost) -> float:
        if user is parent.author or user.role == "troll":
            return 0.0
        weight = interest(user, parent.topic) * user.activity * (0.2 if user.role == "misinformer" else 1.0)
        if parent.author.index in self.follows.get(user.index, ()):
            weight *= 2.5
        if user.language != parent.language:
            weight *= 0.3
        return weight

    def _replies(self) -> None:
        pool = [p for p in self.posts if p.label is None and p.kind == "original"]
        weights = [p.author.popularity ** 0.8 for p in pool]
        replies: list[DemoPost] = []
        thread_size: dict[int, int] = {}
        made = 0
        while made < self.plan.replies:
            if replies and self.rng.random() < 0.35:
                parent = self.rng.choice(replies)
            else:
                parent = self.rng.choices(pool, weights=weights)[0]
            root = parent.root
            if thread_size.get(root.key, 0) >= MAX_THREAD:
                continue
            # The thread's author thanks people who answered their post.
            thanks = parent.parent is root and root.author is not parent.author and self.rng.random() < 0.3
            if thanks:
                user = root.author
            else:
                user = self.rng.choices(self.users, weights=[self._replier_weight(u, parent) for u in self.users])[0]
            when = self._later(max(parent.created_at, user.created_at))
            if when is None:
                continue
            text = self.writer.reply(user, parent.author, parent.topic, thanks=thanks)
            replies.append(self._add(author=user, topic=parent.topic, text=text, created_at=when, kind="reply",
                                     parent=parent, language=user.language))
            thread_size[root.key] = thread_size.get(root.key, 0) + 1
            made += 1

    def _shares(self) -> None:
        pool = [p for p in self.posts if p.label is None and p.kind == "original"]
        sharers = [u for u in self.users if u.role == "regular"]
        for kind, count in (("quote", self.plan.quotes), ("repost", self.plan.reposts)):
            made = 0
            while made < count:
                user = self.rng.choices(sharers, weights=[u.activity for u in sharers])[0]
                topic = self._pick_topic(user)
                options = [p for p in pool if p.topic == topic and p.author is not user]
                if not options:
                    continue
                original = self.rng.choices(options, weights=[p.author.popularity for p in options])[0]
                when = self._later(max(original.created_at, user.created_at), 120)
                if when is None:
                    continue
                text = self.writer.quote(user, topic) if kind == "quote" else ""
                self._add(author=user, topic=topic, text=text, created_at=when, kind=kind, quoted=original,
                          language=user.language)
                made += 1

    def _toxic(self) -> None:
        trolls = [u for u in self.users if u.role == "troll"]
        templates = self.banks.flagged["toxic"]
        for number, template in enumerate(templates):
            author = trolls[number % len(trolls)] if number % 4 != 3 else self._author_for("football")
            targets = [p for p in self.posts if p.author.role == "regular" and p.author is not author
                       and p.kind in ("original", "reply") and p.label is None and p.topic in author.topics]
            parent = self.rng.choice(targets or [p for p in self.posts if p.author.role == "regular"])
            text = template.replace("{target}", "@" + parent.author.handle)
            when = self._later(max(parent.created_at, author.created_at), 30) or parent.created_at + timedelta(seconds=61)
            self._add(author=author, topic=parent.topic, text=text, created_at=min(when, self.end - timedelta(seconds=1)),
                      kind="original" if number in TOXIC_TOP_LEVEL else "reply", label="toxic",
                      parent=None if number in TOXIC_TOP_LEVEL else parent)
