"""Every route tried as nobody, with the wrong scope, and as the wrong user."""

from __future__ import annotations

import time

import pytest

from townsquare.errors import InputError, NotFoundError

# route -> who may call it: a scope, "user" (the user's own session, or a key with ingest),
# "own" (the user themselves or an admin key), "author" (the post's author), or "public".
RULES = {
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/xrpc/app.bsky.feed.describeFeedGenerator"): "public",
    ("GET", "/xrpc/app.bsky.feed.getFeedSkeleton"): "public",
    ("POST", "/v1/users"): "ingest",
    ("POST", "/v1/posts"): "ingest",
    ("DELETE", "/v1/posts/{post}"): "ingest",
    ("DELETE", "/v1/follows"): "ingest",
    ("DELETE", "/v1/blocks"): "ingest",
    ("DELETE", "/v1/mutes"): "ingest",
    ("POST", "/v1/interactions"): "ingest",
    ("POST", "/v1/follows"): "ingest",
    ("POST", "/v1/blocks"): "ingest",
    ("POST", "/v1/mutes"): "ingest",
    ("POST", "/v1/batch"): "ingest",
    ("GET", "/v1/users/{user}/feed"): "read",
    ("GET", "/v1/users/{user}/why-not/{post}"): "read",
    ("GET", "/v1/users/{user}/steering"): "read",
    ("GET", "/v1/users/{user}/interactions"): "read",
    ("GET", "/v1/users/{user}/edges"): "read",
    ("GET", "/v1/users/{user}"): "read",
    ("POST", "/v1/users/{user}/steering"): "user",
    ("DELETE", "/v1/users/{user}/steering"): "user",
    ("POST", "/v1/users/{user}/feedback"): "user",
    ("POST", "/v1/users/{user}/suggestions"): "user",
    ("POST", "/v1/users/{user}/suggestions/{suggestion}/feedback"): "user",
    ("POST", "/v1/users/{user}/drafts"): "user",
    ("POST", "/v1/users/{user}/drafts/rewrite"): "user",
    ("POST", "/v1/users/{user}/assistant"): "user",
    ("GET", "/v1/users/{user}/export"): "own",
    ("DELETE", "/v1/users/{user}"): "own",
    ("POST", "/v1/classify"): "moderate",
    ("GET", "/v1/moderation/queue"): "moderate",
    ("POST", "/v1/moderation/cases/{case_id}/decision"): "moderate",
    ("POST", "/v1/moderation/decisions"): "moderate",
    ("POST", "/v1/moderation/redecide"): "moderate",
    ("GET", "/v1/moderation/health"): "moderate",
    ("POST", "/v1/moderation/cases/{case_id}/appeal"): "author",
    ("GET", "/v1/keys"): "admin",
    ("POST", "/v1/keys"): "admin",
    ("DELETE", "/v1/keys/{key_id}"): "admin",
    ("POST", "/v1/sessions"): "admin",
}
PRIVATE = {"read", "user", "own"}  # routes about one user's data: the wrong user is refused


def api_routes(app) -> list[tuple[str, str]]:
    """Every operation the OpenAPI schema describes."""
    return sorted((method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item)


def test_every_route_has_a_rule(world):
    assert set(api_routes(world.app)) == set(RULES), "add the new route to RULES with who may call it"


def _call(world, method: str, path: str, headers: dict, user: str | None = None):
    url = (
        path.replace("{user}", user or world.handles[0])
        .replace("{post}", "p00001")
        .replace("{case_id}", "1")
        .replace("{key_id}", "999999")
        .replace("{suggestion}", "1")
    )
    body = {"text": "x"} if method == "POST" else None
    return world.client.request(method, url, headers=headers, json=body)


@pytest.mark.parametrize("method,path", sorted(k for k, v in RULES.items() if v != "public"))
def test_nobody_gets_401(world, method, path):
    response = _call(world, method, path, {})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("method,path", sorted(k for k, v in RULES.items() if v != "public"))
def test_unknown_key_gets_401(world, method, path):
    assert _call(world, method, path, world.auth("ts_not-a-real-key")).status_code == 401


@pytest.mark.parametrize(
    "method,path",
    sorted(k for k, v in RULES.items() if v in ("ingest", "read", "moderate", "admin", "user", "own")),
)
def test_wrong_scope_gets_403(world, method, path):
    needed = RULES[(method, path)]
    wrong = {
        "ingest": "read",
        "read": "ingest",
        "moderate": "read",
        "admin": "moderate",
        "user": "read",
        "own": "read",
    }[needed]
    response = _call(world, method, path, world.auth(world.keys[wrong]))
    assert response.status_code == 403, response.text
    assert (
        "scope" in response.json()["error"]["message"]
        or "admin" in response.json()["error"]["message"]
        or "session" in response.json()["error"]["message"]
    )


@pytest.mark.parametrize(
    "method,path", sorted(k for k, v in RULES.items() if v in PRIVATE and "{user}" in k[1])
)
def test_wrong_user_gets_403(world, method, path):
    """A session of one user asks about another user's data."""
    response = _call(world, method, path, world.auth(world.other_session), user=world.handles[0])
    if (method, path) == ("GET", "/v1/users/{user}"):  # a public profile: any reader may see it
        assert response.status_code == 200
    else:
        assert response.status_code == 403, response.text


@pytest.mark.parametrize("method,path", [k for k, v in RULES.items() if v in ("admin", "moderate", "ingest")])
def test_a_plain_users_session_cannot_use_platform_routes(world, method, path):
    assert _call(world, method, path, world.auth(world.user_session)).status_code == 403


def test_a_user_reads_their_own_private_data(world):
    me = world.auth(world.user_session)
    for path in ("feed", "steering", "interactions", "edges?kind=block", "edges?kind=mute"):
        response = world.client.get(f"/v1/users/{world.handles[0]}/{path}", headers=me)
        assert response.status_code == 200, (path, response.text)


def test_a_key_bound_to_a_user_acts_only_for_them(world):
    secret, _ = world.services.keys.create(["read"], user=world.handles[1])
    ok = world.client.get(f"/v1/users/{world.handles[1]}/steering", headers=world.auth(secret))
    refused = world.client.get(f"/v1/users/{world.handles[0]}/steering", headers=world.auth(secret))
    assert (ok.status_code, refused.status_code) == (200, 403)


def test_a_read_only_key_bound_to_a_user_cannot_delete_them(world):
    secret, _ = world.services.keys.create(["read"], user=world.handles[2])
    refused = world.client.delete(f"/v1/users/{world.handles[2]}", headers=world.auth(secret))
    assert refused.status_code == 403 and "needs the 'ingest' scope" in refused.text
    assert world.client.get(f"/v1/users/{world.handles[2]}/export", headers=world.auth(secret)).status_code == 200
    world.store.find_user(world.handles[2])  # still there


def test_a_key_bound_to_a_user_writes_only_that_users_records(world):
    me, other = (world.store.find_user(h)["external_id"] for h in world.handles[1:3])
    secret, _ = world.services.keys.create(["ingest"], user=world.handles[1])
    headers = world.auth(secret)
    mine = world.client.post("/v1/posts", headers=headers, json={"id": "bound-1", "author": me, "text": "mine"})
    assert mine.status_code == 201, mine.text
    refused = {
        "/v1/posts": {"id": "bound-2", "author": other, "text": "not mine"},
        "/v1/follows": {"source": other, "target": me},
        "/v1/interactions": {"user": other, "post": "p00001", "kind": "report"},
        "/v1/users": {"id": "bound-new-user", "handle": "boundnew"},
        "/v1/batch": {"records": [{"type": "post", "id": "bound-3", "author": me, "text": "ok"},
                                  {"type": "post", "id": "bound-4", "author": other, "text": "not ok"}]},
    }
    for path, body in refused.items():
        response = world.client.post(path, headers=headers, json=body)
        assert response.status_code == 403, (path, response.text)
        assert f"acts only for user {me!r}" in response.json()["error"]["message"]
    for post in ("bound-2", "bound-3", "bound-4"):  # the batch's own record was not written either
        with pytest.raises(NotFoundError):
            world.store.find_post(post)


def test_admin_keys_and_sessions_are_never_bound_to_a_user(world):
    response = world.client.post("/v1/keys", headers=world.auth(world.keys["admin"]),
                                 json={"scopes": ["read", "admin"], "user": world.handles[1]})
    assert response.status_code == 422 and "cannot hold the 'admin' scope" in response.text, response.text
    with pytest.raises(InputError, match="session cannot hold"):
        world.services.sessions.create(world.handles[1], ["read", "admin"])


def test_revoked_keys_stop_working(world):
    secret, row = world.services.keys.create(["read"])
    headers = world.auth(secret)
    assert world.client.get(f"/v1/users/{world.handles[0]}", headers=headers).status_code == 200
    world.services.keys.revoke(row["id"])
    assert world.client.get(f"/v1/users/{world.handles[0]}", headers=headers).status_code == 401


def test_keys_are_stored_hashed(world):
    secret, _ = world.services.keys.create(["read"])
    with world.store.read() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("SELECT key_hash FROM api_keys")]
    assert secret not in stored and all(len(h) == 64 for h in stored)


def test_expired_sign_in_sessions_are_deleted_by_the_next_sign_in(world):
    from townsquare.web.auth import SessionBook, digest

    def stored() -> set[str]:
        with world.store.read() as conn:
            return {r[0] for r in conn.exec_driver_sql("SELECT token_hash FROM web_sessions")}

    expired, _ = SessionBook(world.store, ttl_s=-1).create(world.handles[2])  # born expired
    assert world.services.sessions.verify(expired) is None and digest(expired) in stored()
    live, _ = world.services.sessions.create(world.handles[2])
    assert digest(expired) not in stored() and digest(live) in stored()


def test_a_verified_key_is_recalled_for_auth_recall_s_and_a_revocation_elsewhere_lands_within_it(world):
    from townsquare.web.auth import KeyBook

    elsewhere = KeyBook(world.store)  # the CLI, or another worker: same database, its own memory
    secret, row = elsewhere.create(["read"])
    book = KeyBook(world.store, recent_s=0.2)
    assert book.recalled(secret) is None  # nothing is known before a lookup
    principal = book.verify(secret)
    assert principal is not None and book.recalled(secret) == principal
    elsewhere.revoke(row["id"])
    assert book.verify(secret) == principal  # still trusted inside the window...
    time.sleep(0.2)
    assert book.recalled(secret) is None and book.verify(secret) is None  # ...and refused after it
    assert KeyBook(world.store, recent_s=0).verify(secret) is None


def test_recent_checks_forget_on_sign_out_at_session_expiry_and_beyond_capacity(world):
    from townsquare.web.auth import Principal, RecentChecks

    token, _ = world.services.sessions.create(world.handles[1])
    assert world.services.sessions.verify(token) is not None and world.services.sessions.recalled(token)
    world.services.sessions.end(token)
    assert world.services.sessions.recalled(token) is None and world.services.sessions.verify(token) is None

    recent = RecentChecks(ttl_s=60, capacity=2)
    who = [Principal("key", i, frozenset({"read"})) for i in range(3)]
    recent.put("a", who[0], valid_s=0)  # a session that expires now is not remembered
    recent.put("b", who[1])
    recent.put("c", who[2])
    assert recent.get("a") is None and recent.get("b") == who[1]
    recent.put("d", who[0])
    assert recent.get("b") is None and recent.get("c") == who[2]  # the oldest went first
    recent.forget(kind="key", id=2)
    assert recent.get("c") is None and recent.get("d") == who[0]


def test_every_route_is_in_the_api_docs(world):
    """docs/api.md lists every operation of the API (parameter names aside)."""
    import re
    from pathlib import Path

    docs = Path(__file__).parents[2] / "docs" / "api.md"
    documented = set()
    rows = re.findall(r"^\| ([A-Z/]+) \| ((?:`[^`]+`(?:, )?)+)", docs.read_text(encoding="utf-8"), re.MULTILINE)
    for methods, paths in rows:
        for path in re.findall(r"`([^`?]+)", paths):
            documented |= {(method, re.sub(r"\{\w+\}", "{}", path)) for method in methods.split("/")}
    missing = [(method, path) for method, path in api_routes(world.app)
               if (method, re.sub(r"\{\w+\}", "{}", path)) not in documented]
    assert not missing, f"add these to docs/api.md: {missing}"
