"""Composing the text of one demo post (original, reply, quote) in its author's voice."""

from __future__ import annotations

import random
from collections.abc import Sequence

from townsquare.demo.content import Banks, Topic, fill
from townsquare.demo.people import DemoUser
from townsquare.demo.voice import VoiceStyler


class PostWriter:
    """Writes post texts from the phrase banks; avoids repeating a text it already wrote."""

    def __init__(self, banks: Banks, rng: random.Random):
        self.banks, self.rng = banks, rng
        self.styler = VoiceStyler(banks.common)
        self.seen: set[str] = set()

    def _unique(self, compose, attempts: int = 8) -> str:
        text = compose()
        for _ in range(attempts):
            if text not in self.seen:
                break
            text = compose()
        self.seen.add(text)
        return text

    def _fill(self, template: str, topic: Topic) -> str:
        return fill(template, self.banks.slots_for(topic), self.rng)

    def original(self, user: DemoUser, topic_id: str, friends: Sequence[DemoUser] = ()) -> str:
        """A top-level post: 1-4 sentences of the topic, maybe a question, in the user's voice."""
        topic = self.banks.topic(topic_id)
        if user.language != "en":
            return self._unique(lambda: self._foreign(user, topic))
        return self._unique(lambda: self._english(user, topic, friends))

    def _english(self, user: DemoUser, topic: Topic, friends: Sequence[DemoUser]) -> str:
        rng = self.rng
        low, high = user.voice.sentences
        count = rng.randint(low, high)
        ask = rng.random() < 0.22
        templates = rng.sample(topic.posts, max(0, count - 1) if ask else count)
        sentences = [self._fill(t, topic) for t in templates]
        if ask:
            sentences.append(self._fill(rng.choice(topic.questions), topic))
        text = self.styler.style(sentences, user.voice, topic, rng)
        if friends and rng.random() < (0.3 if ask else 0.05):
            friend = rng.choice(list(friends))
            text += f" {'cc' if ask else 'h/t'} @{friend.handle}"
        return text

    def _foreign(self, user: DemoUser, topic: Topic) -> str:
        lines = topic.lines.get(user.language) or self.banks.topic(user.topics[0]).lines[user.language]
        count = 2 if self.rng.random() < 0.3 and len(lines) > 1 else 1
        return self.styler.style(self.rng.sample(list(lines), count), user.voice, topic, self.rng, extras=False)

    def reply(self, user: DemoUser, parent_author: DemoUser, topic_id: str, *, thanks: bool = False) -> str:
        """A reply on the parent's topic; ``thanks`` when the thread's author answers a reply."""
        return self._unique(lambda: self._reply(user, parent_author, topic_id, thanks))

    def _reply(self, user: DemoUser, parent_author: DemoUser, topic_id: str, thanks: bool) -> str:
        rng, common = self.rng, self.banks.common
        topic = self.banks.topic(topic_id)
        if user.language != "en":
            body = rng.choice(common[f"reply_{user.language}"])
        elif thanks:
            body = rng.choice(common["author_thanks"])
        elif rng.random() < 0.72:
            body = self._fill(rng.choice(topic.replies), topic)
            if rng.random() < 0.3:
                body = f"{rng.choice(common['reply_openers'])} {body}"
        else:
            body = rng.choice(common["reply_generic"])
        text = self.styler.style([body], user.voice, topic, rng, tags=rng.random() < 0.3, extras=False)
        return f"@{parent_author.handle} {text}" if rng.random() < 0.75 else text

    def quote(self, user: DemoUser, topic_id: str) -> str:
        """The comment on a quoted post."""
        topic = self.banks.topic(topic_id)

        def compose() -> str:
            if user.language != "en":
                body = self.rng.choice(self.banks.common[f"reply_{user.language}"])
            elif self.rng.random() < 0.7:
                body = self.rng.choice(self.banks.common["quote_comments"])
            else:
                body = self._fill(self.rng.choice(topic.replies), topic)
            return self.styler.style([body], user.voice, topic, self.rng, extras=False)

        return self._unique(compose)

    def debunk(self, user: DemoUser, author: DemoUser, topic_id: str, first: bool) -> str:
        """A reply that corrects a misleading post."""
        flagged = self.banks.flagged
        specific = flagged["debunk_by_topic"].get(topic_id)
        body = specific if first and specific else self.rng.choice(flagged["debunk"])
        text = self.styler.style([body], user.voice, None, self.rng, tags=False, extras=False)
        return self._unique(lambda: f"@{author.handle} {text}")
