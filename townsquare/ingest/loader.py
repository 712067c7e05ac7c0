"""The loader: writes a stream of records into the store in one transaction.

Records may come in any order: a post whose parent comes later in the file, or an interaction
with a post that comes later, waits until the end of the stream. A reference that is still
unknown then is an error (or, with ``skip_bad``, a line in the skip report). Nothing is
half-written: the whole import is one transaction, rolled back on the first error.
Re-importing the same records is a no-op: existing external ids and events are skipped.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, func, select, update

from townsquare.errors import InputError
from townsquare.ingest.records import EdgeRecord, InteractionRecord, PostRecord, UserRecord
from townsquare.storage.feed_schema import feed_user_state
from townsquare.storage.moderation_schema import moderation_decisions
from townsquare.storage.privacy import erase_posts
from townsquare.storage.schema import edges, embedding_cache, interactions, posts, user_vectors, users
from townsquare.storage.store import profile_text, text_hash


class Located(NamedTuple):
    """A record and where it came from, for error messages."""

    record: Any
    source: str | None = None
    line: int | None = None


@dataclass
class ImportReport:
    inserted: Counter = field(default_factory=Counter)
    existing: Counter = field(default_factory=Counter)
    changed: Counter = field(default_factory=Counter)  # stored posts deleted or with a new visibility; edges removed
    skipped: list[InputError] = field(default_factory=list)

    def write_skipped(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(json.dumps({"source": error.source, "line": error.line, "field": error.field,
                                      "error": error.message}) + "\n" for error in self.skipped)

    def summary(self) -> dict[str, Any]:
        return {"inserted": dict(self.inserted), "existing": dict(self.existing), "changed": dict(self.changed),
                "skipped": len(self.skipped)}


class _IdMap:
    """External id -> internal key for one table, filled from the database on demand."""

    def __init__(self, store, table) -> None:
        self.store, self.table, self.known = store, table, {}

    def fetch(self, conn: Connection, external_ids: Iterable[str]) -> None:
        missing = [e for e in set(external_ids) if e is not None and e not in self.known]
        if missing:
            self.known.update(self.store.resolve(conn, self.table, missing))


class Loader:
    """Loads records into a store. ``load`` is one transaction.

    On SQLite the import's connection may use up to ``cache_mb`` of page cache (only what it
    needs is taken; the store's usual 200 MB comes back afterwards): an import of millions of
    interactions inserts at random places in the interactions' indexes, and once those
    outgrow the cache every insert reads pages back.

    With ``bulk``, the secondary (non-unique) indexes of the tables it writes are dropped at
    the start and built again at the end, inside the same transaction: building an index once
    from sorted data is cheaper than millions of inserts at random places in it (the 1M-post load:
    672 s without, 442 s with, the bigger page cache included). Meant for
    loading millions of records at once. On SQLite readers see the old data, indexes included, until
    the commit; on PostgreSQL ``DROP INDEX`` takes an exclusive lock on the table, so readers wait for
    the whole import (documented in the README).
    """

    def __init__(self, store, *, skip_bad: bool = False, batch_size: int = 20_000,
                 progress: Callable[[int], None] | None = None, cache_mb: int = 2048, bulk: bool = False) -> None:
        self.store, self.skip_bad, self.batch_size, self.progress = store, skip_bad, batch_size, progress
        self.cache_mb, self.bulk = cache_mb, bulk

    def load(self, items: Iterable[Any], source: str | None = None) -> ImportReport:
        report = ImportReport()
        self._users, self._posts = _IdMap(self.store, users), _IdMap(self.store, posts)
        self._pending_links: list[tuple[Located, int]] = []  # posts whose references wait
        self._pending: list[Located] = []  # edges and interactions whose ends wait
        self._pending_posts: list[Located] = []  # posts whose author comes later
        self._parent: dict[int, int] = {}  # reply key -> parent key, for thread roots
        with self.store.begin() as conn, _page_cache(conn, self.cache_mb), \
                _without_secondary_indexes(conn, self.bulk):
            batch: list[Located] = []
            for position, item in enumerate(items, start=1):
                located = item if isinstance(item, Located) else Located(item, source, position)
                batch.append(located)
                if len(batch) >= self.batch_size:
                    self._flush(conn, batch, report, final=False)
                    batch = []
            self._flush(conn, batch, report, final=False)
            pending_posts, self._pending_posts = self._pending_posts, []
            self._write_posts(conn, pending_posts, report, final=True)
            self._link_posts(conn, self._pending_links, report, final=True)
            self._set_roots(conn)
            pending, self._pending = self._pending, []
            self._write_relations(conn, pending, report, final=True)
        report.skipped.sort(key=lambda e: (e.source or "", e.line or 0))
        return report

    # -- one batch ------------------------------------------------------------------------
    def _flush(self, conn: Connection, batch: list[Located], report: ImportReport, final: bool) -> None:
        groups: dict[type, list[Located]] = {UserRecord: [], PostRecord: [], EdgeRecord: [],
                                             InteractionRecord: []}
        for located in batch:
            kind = type(located.record)
            if kind not in groups:
                self._bad(report, InputError(f"not a record: {located.record!r:.80}",
                                             source=located.source, line=located.line))
                continue
            groups[kind].append(located)
        self._write_users(conn, groups[UserRecord], report)
        self._write_posts(conn, groups[PostRecord], report)
        self._write_relations(conn, groups[EdgeRecord] + groups[InteractionRecord], report, final)
        if self.progress:
            self.progress(len(batch))

    def _bad(self, report: ImportReport, error: InputError) -> None:
        if not self.skip_bad:
            raise error
        report.skipped.append(error)

    def _write_users(self, conn: Connection, items: list[Located], report: ImportReport) -> None:
        self._users.fetch(conn, (i.record.id for i in items))
        fresh: dict[str, Located] = {}
        known: list[Located] = []
        for item in items:
            if item.record.id in self._users.known:
                known.append(item)
            elif item.record.id in fresh:
                report.existing["user"] += 1
            else:
                fresh[item.record.id] = item
        if known:
            self._change_users(conn, known, report)
        by_handle: dict[str, Located] = {}
        # handles are told apart without case: "QA_B" beside "qa_b" would pass for them
        taken = {h.lower(): ext for h, ext in conn.execute(select(users.c.handle, users.c.external_id).where(
            func.lower(users.c.handle).in_([i.record.handle.lower() for i in fresh.values()])))} if fresh else {}
        for ext, item in list(fresh.items()):
            handle = item.record.handle.lower()
            other = by_handle.get(handle)
            if taken.get(handle) == ext:  # written by a concurrent import since the lookup above: already there
                del fresh[ext]
                report.existing["user"] += 1
                continue
            if handle in taken or other is not None:
                owner = taken.get(handle) or f"{other.record.id} (line {other.line})"
                del fresh[ext]
                self._bad(report, InputError(f"handle {item.record.handle!r} already belongs to user {owner}",
                                             source=item.source, line=item.line, field="handle"))
                continue
            by_handle[handle] = item
        rows = [{"external_id": r.id, "handle": r.handle, "display_name": r.display_name, "bio": r.bio,
                 "language": r.language, "interests": list(r.interests), "created_at": r.created_at}
                for r in (i.record for i in fresh.values())]
        written = 0
        for key, ext in self.store.insert_ignore(conn, users, rows, returning=("id", "external_id")):
            self._users.known[ext] = key
            written += 1
        report.inserted["user"] += written
        self._users.fetch(conn, (r["external_id"] for r in rows))  # those a concurrent import wrote first
        for ext, item in fresh.items():
            if ext not in self._users.known:  # its handle went to another user meanwhile
                self._bad(report, InputError(f"handle {item.record.handle!r} was just taken by another user",
                                             source=item.source, line=item.line, field="handle"))
        report.existing["user"] += sum(ext in self._users.known for ext in fresh) - written

    def _change_users(self, conn: Connection, items: list[Located], report: ImportReport) -> None:
        """A stored user's later record changes their profile (a platform's rename, a new bio): handle, display
        name, bio, language and interests. A new bio or interests drop their profile vector and the feed's
        checkpoint of their interests, which ``townsquare embed`` (or the API, at once) and the log rebuild."""
        keys = [self._users.known[i.record.id] for i in items]
        stored = {row.id: dict(row._mapping) for row in conn.execute(select(
            users.c.id, users.c.handle, users.c.display_name, users.c.bio, users.c.language, users.c.interests)
            .where(users.c.id.in_(keys)))}
        for item in items:
            record, key = item.record, self._users.known[item.record.id]
            row = stored[key]
            new = {name: getattr(record, name) for name in ("handle", "display_name", "bio", "language", "interests")
                   if name in record.model_fields_set and getattr(record, name) != row[name]}
            if "interests" in new and list(new["interests"]) == list(row["interests"] or []):
                del new["interests"]
            if not new:
                report.existing["user"] += 1
                continue
            if "handle" in new:
                owner = conn.execute(select(users.c.external_id).where(
                    func.lower(users.c.handle) == new["handle"].lower(), users.c.id != key)).scalar()
                if owner is not None:
                    self._bad(report, InputError(f"handle {new['handle']!r} already belongs to user {owner}",
                                                 source=item.source, line=item.line, field="handle"))
                    continue
            conn.execute(update(users).where(users.c.id == key).values(
                **{k: list(v) if k == "interests" else v for k, v in new.items()}))
            if "handle" in new:  # the decisions they made as a moderator are theirs under the new name too
                conn.execute(update(moderation_decisions).where(moderation_decisions.c.moderator == row["handle"])
                             .values(moderator=new["handle"]))
            if {"bio", "interests"} & set(new):
                conn.execute(delete(user_vectors).where(user_vectors.c.user_id == key))
                conn.execute(delete(feed_user_state).where(feed_user_state.c.user_id == key))
                # what they said of themselves before leaves the embedding cache (it would outlive a deletion)
                old = {row["bio"] or "", profile_text(row["bio"] or "", list(row["interests"] or ()))} - {""}
                conn.execute(delete(embedding_cache).where(embedding_cache.c.text_hash.in_(
                    [text_hash(t) for t in old])))
            row.update(new)
            report.changed["user"] += 1

    def _write_posts(self, conn: Connection, items: list[Located], report: ImportReport,
                     final: bool = False) -> None:
        self._posts.fetch(conn, (i.record.id for i in items))
        self._users.fetch(conn, (i.record.author for i in items))
        fresh: dict[str, Located] = {}
        known: list[Located] = []
        for item in items:
            record = item.record
            if record.id in self._posts.known:
                known.append(item)
            elif record.id in fresh:
                report.existing["post"] += 1
            elif record.author not in self._users.known and not final:
                self._pending_posts.append(item)
            elif record.author not in self._users.known:
                self._bad(report, InputError(f"post {record.id!r} names unknown author {record.author!r}",
                                             source=item.source, line=item.line, field="author"))
            else:
                fresh[record.id] = item
        self._change_posts(conn, known, report)
        rows = [{"external_id": r.id, "author_id": self._users.known[r.author], "text": "" if r.deleted else r.text,
                 "created_at": r.created_at, "language": r.language,
                 "hashtags": [] if r.deleted else list(r.hashtags or ()),
                 "mentions": [] if r.deleted else list(r.mentions or ()), "visibility": str(r.visibility),
                 "deleted": r.deleted} for r in (i.record for i in fresh.values())]
        for key, ext in self.store.insert_ignore(conn, posts, rows, returning=("id", "external_id")):
            self._posts.known[ext] = key
        report.inserted["post"] += len(rows)
        linked = [(item, self._posts.known[ext]) for ext, item in fresh.items()
                  if item.record.reply_to or item.record.quote_of or item.record.repost_of]
        self._link_posts(conn, linked, report, final=False)

    def _change_posts(self, conn: Connection, items: list[Located], report: ImportReport) -> None:
        """Posts already stored: what a record says explicitly of ``deleted: true`` (the post's words are
        erased, ``erase_posts``) or of its ``visibility`` is applied, by its author's record only; the rest of
        a post is as first imported (importing a file again changes nothing)."""
        if not items:
            return
        c = posts.c
        stored = {r.external_id: r for r in conn.execute(
            select(c.id, c.external_id, c.author_id, c.deleted, c.visibility)
            .where(c.external_id.in_({i.record.id for i in items}))).all()}
        erase, changed = [], set()
        for item in items:
            record, row = item.record, stored[item.record.id]
            if self._users.known.get(record.author) != row.author_id:
                self._bad(report, InputError(f"post {record.id!r} is already stored with another author",
                                             source=item.source, line=item.line, field="author"))
                continue
            if "deleted" in record.model_fields_set and record.deleted and not row.deleted:
                erase.append(row.id)
                changed.add(record.id)
            elif "visibility" in record.model_fields_set and str(record.visibility) != row.visibility \
                    and not row.deleted:
                conn.execute(update(posts).where(c.id == row.id).values(visibility=str(record.visibility)))
                changed.add(record.id)
            else:
                report.existing["post"] += 1
        if erase:
            erase_posts(conn, erase)
        report.changed["post"] += len(changed)

    def _link_posts(self, conn: Connection, items: list[tuple[Located, int]], report: ImportReport,
                    final: bool) -> None:
        """Set reply_to / root / quote / repost keys, once the referenced posts exist."""
        refs = {ref for item, _ in items for ref in _post_refs(item.record)}
        self._posts.fetch(conn, refs)
        updates, gone = [], set()  # gone: posts taken back here, which the others' links must not name
        for item, key in items:
            record = item.record
            missing = [r for r in _post_refs(record) if r not in self._posts.known]
            if missing and not final:
                self._pending_links.append((item, key))
                continue
            if missing:
                self._bad(report, InputError(f"post {record.id!r} refers to unknown post {missing[0]!r}",
                                             source=item.source, line=item.line,
                                             field=_post_ref_field(record, missing[0])))
                self._unwrite_post(conn, record.id, key, report)  # skipped means not imported
                gone.add(key)
                continue
            parent = self._posts.known.get(record.reply_to) if record.reply_to else None
            if parent is not None and self._in_thread_above(parent, key):
                self._bad(report, InputError(f"post {record.id!r} replies to {record.reply_to!r}, which is itself a "
                                             f"reply below {record.id!r}: replies cannot go round in a circle",
                                             source=item.source, line=item.line, field="reply_to"))
                self._unwrite_post(conn, record.id, key, report)
                gone.add(key)
                continue
            if parent is not None:
                self._parent[key] = parent
            updates.append({"key": key, "reply_to_id": parent,
                            "quote_of_id": self._posts.known.get(record.quote_of),
                            "repost_of_id": self._posts.known.get(record.repost_of)})
        for row in updates:
            for column in ("reply_to_id", "quote_of_id", "repost_of_id"):
                if row[column] in gone:
                    row[column] = None
        if updates:
            statement = update(posts).where(posts.c.id == bindparam("key")).values(
                reply_to_id=bindparam("reply_to_id"),
                quote_of_id=bindparam("quote_of_id"), repost_of_id=bindparam("repost_of_id"))
            conn.execute(statement, updates)
        if final:
            self._pending_links = []

    def _unwrite_post(self, conn: Connection, external_id: str, key: int, report: ImportReport) -> None:
        """Take back a post written before its references turned out unknown (with ``skip_bad``); replies
        to it in this import become top-level posts, as replies to a deleted post do."""
        conn.execute(delete(posts).where(posts.c.id == key))
        self._posts.known.pop(external_id, None)
        self._parent = {child: parent for child, parent in self._parent.items() if parent != key}
        report.inserted["post"] -= 1

    def _in_thread_above(self, parent: int, key: int) -> bool:
        """Whether ``key`` is ``parent`` or above it in this import's replies (a reply cycle)."""
        node, seen = parent, set()
        while node not in seen:
            if node == key:
                return True
            seen.add(node)
            if node not in self._parent:
                return False
            node = self._parent[node]
        return True  # a cycle further up (cannot happen: every link is checked as it is made)

    def _set_roots(self, conn: Connection) -> None:
        """Thread roots of the replies written in this import: follow parents to the top."""
        outside = {p for p in self._parent.values() if p not in self._parent}
        roots = {}
        for chunk in _chunks(list(outside), 5000):
            roots.update(conn.execute(select(posts.c.id, posts.c.root_id).where(posts.c.id.in_(chunk))).all())
        rows = []
        for key, node in self._parent.items():
            while node in self._parent:
                node = self._parent[node]
            rows.append({"key": key, "root_id": roots.get(node) or node})
        if rows:
            conn.execute(update(posts).where(posts.c.id == bindparam("key")).values(
                root_id=bindparam("root_id")), rows)

    def _write_relations(self, conn: Connection, items: list[Located], report: ImportReport,
                         final: bool) -> None:
        edge_rows, event_rows = [], []
        self._users.fetch(conn, (u for i in items for u in _user_refs(i.record)))
        self._posts.fetch(conn, (i.record.post for i in items if isinstance(i.record, InteractionRecord)))
        for item in items:
            record = item.record
            missing = _unknown_ref(record, self._users.known, self._posts.known)
            if missing and not final:
                self._pending.append(item)
            elif missing:
                what, ref = missing
                self._bad(report, InputError(f"unknown {what} {getattr(record, ref)!r}",
                                             source=item.source, line=item.line, field=ref))
            elif isinstance(record, EdgeRecord):
                edge_rows.append({"source_id": self._users.known[record.source],
                                  "target_id": self._users.known[record.target],
                                  "kind": record.type, "created_at": record.created_at, "removed": record.removed})
            else:
                event_rows.append({"user_id": self._users.known[record.user],
                                   "post_id": self._posts.known[record.post], "kind": str(record.kind),
                                   "created_at": record.created_at, "value": record.value})
        # Edges in runs of the same operation, in the records' order: a follow, then its removal, then a
        # follow again ends followed.
        for removed, run in itertools.groupby(edge_rows, key=lambda row: row.pop("removed")):
            run = list(run)
            if not removed:
                self._insert(conn, edges, run, "edge", report)
                continue
            for row in run:
                report.changed["edge"] += conn.execute(delete(edges).where(
                    edges.c.source_id == row["source_id"], edges.c.target_id == row["target_id"],
                    edges.c.kind == row["kind"])).rowcount
        self._insert(conn, interactions, event_rows, "interaction", report)

    def _insert(self, conn: Connection, table, rows: list[dict], name: str, report: ImportReport) -> None:
        if rows:
            added = self.store.insert_ignore(conn, table, rows)
            report.inserted[name] += added
            report.existing[name] += len(rows) - added


@contextmanager
def _page_cache(conn: Connection, megabytes: int):
    """SQLite: a bigger page cache for this connection while the block runs."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size={-1024 * int(megabytes)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


@contextmanager
def _without_secondary_indexes(conn: Connection, enabled: bool):
    """Drop the non-unique indexes of the tables an import writes; create them again after."""
    if not enabled:
        yield
        return
    dropped = [index for table in (users, posts, edges, interactions) for index in sorted(
        table.indexes, key=lambda i: i.name) if not index.unique]
    for index in dropped:
        index.drop(conn)
    yield
    for index in dropped:
        index.create(conn)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _post_refs(record: PostRecord) -> list[str]:
    return [r for r in (record.reply_to, record.quote_of, record.repost_of) if r]


def _post_ref_field(record: PostRecord, ref: str) -> str:
    return next(name for name in ("reply_to", "quote_of", "repost_of") if getattr(record, name) == ref)


def _user_refs(record) -> tuple[str, ...]:
    return (record.source, record.target) if isinstance(record, EdgeRecord) else (record.user,)


def _unknown_ref(record, known_users: dict, known_posts: dict) -> tuple[str, str] | None:
    if isinstance(record, EdgeRecord):
        for name in ("source", "target"):
            if getattr(record, name) not in known_users:
                return "user", name
        return None
    if record.user not in known_users:
        return "user", "user"
    if record.post not in known_posts:
        return "post", "post"
    return None
