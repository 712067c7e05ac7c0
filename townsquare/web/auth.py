"""API keys and sessions: created, listed, revoked and checked; only hashes are stored.

A ``Principal`` is who is asking: a platform key (scopes, maybe bound to one user) or a signed-in
user's session. ``may_act_for`` is the one rule for private data: a platform key that is not bound
to a user acts for any user; a bound key or a session acts only for its own user.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from townsquare.errors import InputError, NotFoundError
from townsquare.storage.web_schema import api_keys, web_sessions

SCOPES = ("ingest", "read", "moderate", "admin")

# Built once: every request checks its key or session, and building the statement each time cost
# more than the lookup (a third of the check's time in a profile of the demo feed over HTTP).
_ACTIVE_KEY = select(api_keys).where(api_keys.c.key_hash == bindparam("hash"), api_keys.c.revoked_at.is_(None))
_LIVE_SESSION = select(web_sessions).where(web_sessions.c.token_hash == bindparam("hash"),
                                           web_sessions.c.expires_at > bindparam("now"))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    kind: str  # "key" or "session"
    id: int
    scopes: frozenset[str]
    user_id: int | None = None
    handle: str | None = None

    def may_act_for(self, user_id: int) -> bool:
        return self.user_id is None or self.user_id == user_id

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"


class RecentChecks:
    """Principals verified in the last ``ttl_s`` seconds, by the digest of their secret.

    Every API request checks its key or session. On the demo's feed over HTTP the check's query was
    a twentieth of a worker's CPU, and it sent every request to a worker thread once more before
    the route's own. A revocation or sign-out in this process forgets the principal at once; one
    made elsewhere (the CLI, another worker) takes effect within ``ttl_s``. ``ttl_s=0`` remembers
    nothing. Unknown secrets are never remembered: each one is looked up.
    """

    def __init__(self, ttl_s: float, capacity: int = 10_000) -> None:
        self.ttl_s, self.capacity = ttl_s, capacity
        self._seen: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, hashed: str) -> Principal | None:
        hit = self._seen.get(hashed)
        if hit is None or hit[1] <= time.monotonic():
            return None
        return hit[0]

    def put(self, hashed: str, principal: Principal, valid_s: float | None = None) -> None:
        """Remember ``principal`` for ``ttl_s``, or less when it stops being valid sooner (``valid_s``)."""
        keep = self.ttl_s if valid_s is None else min(self.ttl_s, valid_s)
        if keep <= 0:
            return
        with self._lock:
            self._seen[hashed] = (principal, time.monotonic() + keep)
            self._seen.move_to_end(hashed)
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)

    def forget(self, hashed: str | None = None, *, kind: str | None = None, id: int | None = None,
               user_id: int | None = None) -> None:
        """Forget one secret's digest, every principal of ``kind`` and ``id``, or every one bound to ``user_id``."""
        with self._lock:
            if hashed is not None:
                self._seen.pop(hashed, None)
            elif kind is not None:
                for key in [k for k, (p, _) in self._seen.items() if p.kind == kind and p.id == id]:
                    del self._seen[key]
            elif user_id is not None:
                for key in [k for k, (p, _) in self._seen.items() if p.user_id == user_id]:
                    del self._seen[key]


def _check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InputError(
            f"unknown or missing scopes {unknown}; choose from {', '.join(SCOPES)}", field="scopes"
        )
    return sorted(set(scopes))


class KeyBook:
    """Platform API keys in the store."""

    def __init__(self, store, recent_s: float = 0.0) -> None:
        self.store = store
        self.recent = RecentChecks(recent_s)

    def create(
        self, scopes: list[str], *, user: str | None = None, name: str = ""
    ) -> tuple[str, dict[str, Any]]:
        """A new key: returns the secret (shown once) and its stored row (without the hash)."""
        scopes = _check_scopes(scopes)
        if user and "admin" in scopes:
            raise InputError("a key bound to a user cannot hold the 'admin' scope: it would mint keys and "
                             "sessions for everyone", field="scopes")
        user_id = int(self.store.find_user(user)["id"]) if user else None
        secret = "ts_" + secrets.token_urlsafe(32)
        row = {
            "key_hash": digest(secret),
            "prefix": secret[:10],
            "name": name,
            "scopes": scopes,
            "user_id": user_id,
            "created_at": datetime.now(UTC),
        }
        with self.store.begin() as conn:
            row["id"] = conn.execute(api_keys.insert().values(**row)).inserted_primary_key[0]
        return secret, _public(row)

    def list(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            return [
                _public(dict(r)) for r in conn.execute(select(api_keys).order_by(api_keys.c.id)).mappings()
            ]

    def revoke(self, key_id: int) -> None:
        with self.store.begin() as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            ).rowcount
        self.recent.forget(kind="key", id=key_id)
        if not done:
            raise NotFoundError(f"no active API key {key_id}; `townsquare keys list` or GET /v1/keys lists them")

    def recalled(self, secret: str) -> Principal | None:
        """The key's principal if it was verified within the last ``recent_s`` seconds (no I/O)."""
        return self.recent.get(digest(secret))

    def verify(self, secret: str) -> Principal | None:
        hashed = digest(secret)
        if (known := self.recent.get(hashed)) is not None:
            return known
        with self.store.read() as conn:
            row = conn.execute(_ACTIVE_KEY, {"hash": hashed}).mappings().first()
        if row is None:
            return None
        principal = Principal("key", int(row["id"]), frozenset(row["scopes"]), row["user_id"])
        self.recent.put(hashed, principal)
        return principal


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "key_hash"}
    for k in ("created_at", "revoked_at"):
        if out.get(k) is not None:
            out[k] = out[k].isoformat()
    return out


class SessionBook:
    """Per-user sessions: a random token (cookie or bearer), stored hashed, with an expiry.
    Each new session deletes the expired ones."""

    def __init__(self, store, ttl_s: int, recent_s: float = 0.0) -> None:
        self.store, self.ttl_s = store, ttl_s
        self.recent = RecentChecks(recent_s)

    def create(self, user: str | int, scopes: list[str] | None = None) -> tuple[str, dict[str, Any]]:
        row_user = self.store.find_user(user)
        scopes = sorted(set(scopes or ["read"]))
        _check_scopes(scopes)
        if "admin" in scopes:
            raise InputError("a session cannot hold the 'admin' scope; use a platform key", field="scopes")
        token = "tss_" + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        row = {
            "token_hash": digest(token),
            "user_id": int(row_user["id"]),
            "scopes": scopes,
            "created_at": now,
            "expires_at": now + timedelta(seconds=self.ttl_s),
        }
        with self.store.begin() as conn:  # expired sessions go as new ones come: nothing piles up
            conn.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))
            conn.execute(web_sessions.insert().values(**row))
        return token, {
            "user": row_user["handle"],
            "scopes": scopes,
            "expires_at": row["expires_at"].isoformat(),
        }

    def recalled(self, token: str) -> Principal | None:
        """The session's principal if it was verified within the last ``recent_s`` seconds (no I/O)."""
        return self.recent.get(digest(token))

    def verify(self, token: str) -> Principal | None:
        hashed = digest(token)
        if (known := self.recent.get(hashed)) is not None:
            return known
        now = datetime.now(UTC)
        with self.store.read() as conn:
            row = conn.execute(_LIVE_SESSION, {"hash": hashed, "now": now}).mappings().first()
        if row is None:
            return None
        user = self.store.find_user(int(row["user_id"]))
        principal = Principal(
            "session", int(row["id"]), frozenset(row["scopes"]), int(row["user_id"]), user["handle"]
        )
        self.recent.put(hashed, principal, (row["expires_at"] - now).total_seconds())
        return principal

    def end(self, token: str) -> None:
        self.recent.forget(digest(token))
        with self.store.begin() as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == digest(token)))
