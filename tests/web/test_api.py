"""The API end to end on the demo community: ingest, feed, feedback, steering, privacy, errors, limits."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from tests.web.conftest import World
from townsquare.storage.schema import edges


def _user(i: int = 1) -> dict:
    return {"id": f"api-u{i}", "handle": f"api_user_{i}", "display_name": f"API user {i}"}


def test_ingest_single_is_idempotent_by_external_id(world):
    ingest = world.auth(world.keys["ingest"])
    first = world.client.post("/v1/users", json=_user(), headers=ingest)
    again = world.client.post("/v1/users", json=_user(), headers=ingest)
    assert first.status_code == 201 and first.json()["inserted"] == {"user": 1}
    assert again.json()["inserted"].get("user", 0) == 0
    post = {"id": "api-p1", "author": "api-u1", "text": "hello #bread"}
    assert world.client.post("/v1/posts", json=post, headers=ingest).json()["inserted"] == {"post": 1}
    follow = {"source": "api-u1", "target": world.store.find_user(world.handles[0])["external_id"]}
    assert world.client.post("/v1/follows", json=follow, headers=ingest).status_code == 201
    assert world.client.post("/v1/mutes", json=follow, headers=ingest).status_code == 201


def test_a_deleted_post_leaves_the_feed_at_once_and_an_unfollow_counts(tmp_path, demo_db):
    world = World(tmp_path, demo_db)
    reader, ingest = world.handles[0], world.auth(world.keys["ingest"])

    def feed() -> list[dict]:
        return world.client.get(f"/v1/users/{reader}/feed?limit=50", headers=world.auth(world.user_session)
                                ).json()["items"]

    shown = feed()[0]
    gone = world.client.delete(f"/v1/posts/{shown['post']}", headers=ingest)
    assert gone.status_code == 200 and gone.json()["changed"] == {"post": 1}
    assert world.client.delete(f"/v1/posts/{shown['post']}", headers=ingest).json()["changed"] == {}  # once
    assert world.store.find_post(shown["post"])["text"] == ""
    assert world.client.delete("/v1/posts/no-such-post", headers=ingest).status_code == 404
    def author_of(post: str) -> str:
        return world.store.find_user(world.store.find_post(post)["author_id"])["handle"]

    author = author_of(shown["post"])
    bound = world.auth(world.services.keys.create(["ingest"], name="theirs", user=world.handles[1])[0])
    other = next(i["post"] for i in feed() if author_of(i["post"]) != world.handles[1])
    assert world.client.delete(f"/v1/posts/{other}", headers=bound).status_code == 403  # not their post
    fresh = world.client.get(f"/v1/users/{reader}/feed?limit=50", headers=world.auth(
        world.services.sessions.create(reader)[0])).json()["items"]  # a new session: nothing served yet
    assert fresh and shown["post"] not in {i["post"] for i in fresh}
    me, them = (world.store.find_user(h)["external_id"] for h in (reader, author))
    world.client.post("/v1/follows", json={"source": me, "target": them}, headers=ingest)
    edges = f"/v1/users/{reader}/edges?kind=follow"
    assert them in str(world.client.get(edges, headers=world.auth(world.user_session)).json())
    unfollowed = world.client.delete("/v1/follows", params={"source": me, "target": them}, headers=ingest)
    assert unfollowed.status_code == 200 and unfollowed.json()["changed"] == {"edge": 1}
    assert them not in str(world.client.get(edges, headers=world.auth(world.user_session)).json())
    assert world.client.delete("/v1/follows", params={"source": me, "target": me}, headers=ingest).status_code == 422
    world.store.close()


def test_batch_ingest_resolves_forward_references(world):
    records = [
        {"type": "interaction", "user": "api-u2", "post": "api-p2", "kind": "like"},
        {"type": "post", "id": "api-p2", "author": "api-u2", "text": "later post"},
        {"type": "user", **_user(2)},
    ]
    response = world.client.post(
        "/v1/batch", json={"records": records}, headers=world.auth(world.keys["ingest"])
    )
    assert response.status_code == 201, response.text
    assert response.json()["inserted"] == {"user": 1, "post": 1, "interaction": 1}


def test_unknown_reference_is_a_clear_422(world):
    response = world.client.post(
        "/v1/posts",
        json={"id": "x1", "author": "nobody-here", "text": "hi"},
        headers=world.auth(world.keys["ingest"]),
    )
    assert response.status_code == 422
    assert "nobody-here" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id": "", "handle": "x"},
        {"id": "a", "handle": "bad handle!"},
        {"id": "a", "handle": "ok", "extra": 1},
        [1, 2],
        "null",
    ],
)
def test_malformed_bodies_get_422_with_a_message(world, body):
    response = world.client.post("/v1/users", json=body, headers=world.auth(world.keys["ingest"]))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] and error["location"]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-05:00"])
def test_a_date_outside_what_utc_holds_is_a_422(world, when):
    ingest = world.auth(world.keys["ingest"])
    user = world.store.find_user(world.handles[0])["external_id"]
    for path, body in (("/v1/posts", {"id": "odd-date", "author": user, "text": "x", "created_at": when}),
                       ("/v1/interactions", {"user": user, "post": "p00001", "kind": "like", "created_at": when})):
        response = world.client.post(path, json=body, headers=ingest)
        assert response.status_code == 422 and "created_at" in response.text, (path, response.text)


def test_ids_too_big_for_a_key_are_4xx_not_500(world):
    me = world.auth(world.user_session)
    huge = "9" * 23
    assert world.client.delete(f"/v1/users/{world.handles[0]}/steering?phrase={huge}", headers=me).status_code == 404


@pytest.mark.parametrize(("kind", "value", "needle"), [("rating", None, "needs its value"),
                                                     ("dwell", None, "needs its value"),
                                                     ("like", 3.0, "has no value")])
def test_feedback_values_fit_their_kind(world, kind, value, needle):
    body = {"post": "p00001", "kind": kind} | ({"value": value} if value is not None else {})
    response = world.client.post(f"/v1/users/{world.handles[0]}/feedback", json=body,
                                 headers=world.auth(world.user_session))
    assert response.status_code == 422 and needle in response.text


def test_not_json_is_a_422(world):
    response = world.client.post(
        "/v1/users",
        content=b"{not json",
        headers={**world.auth(world.keys["ingest"]), "content-type": "application/json"},
    )
    assert response.status_code == 422


def test_feed_pages_with_a_cursor_and_explanations(world):
    read = world.auth(world.keys["read"])
    first = world.client.get(f"/v1/users/{world.handles[0]}/feed?limit=5", headers=read).json()
    assert len(first["items"]) == 5 and first["cursor"]
    assert all(item["because"] or item["sources"] for item in first["items"])
    second = world.client.get(
        f"/v1/users/{world.handles[0]}/feed", params={"limit": 5, "cursor": first["cursor"]}, headers=read
    ).json()
    assert second["page"] == 2
    assert not {i["post"] for i in first["items"]} & {i["post"] for i in second["items"]}


def test_a_bad_cursor_is_a_4xx(world):
    response = world.client.get(
        f"/v1/users/{world.handles[0]}/feed?cursor=garbage", headers=world.auth(world.keys["read"])
    )
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert (error["field"], error["location"]) == ("cursor", "query")  # where the client sent it


def test_hide_feedback_changes_the_next_page(world):
    me = world.auth(world.user_session)
    user = world.handles[0]
    top = world.client.get(f"/v1/users/{user}/feed?limit=5", headers=me).json()["items"][0]["post"]
    response = world.client.post(f"/v1/users/{user}/feedback", json={"post": top, "kind": "hide"}, headers=me)
    assert response.status_code == 201
    after = world.client.get(f"/v1/users/{user}/feed?limit=20", headers=me).json()
    assert top not in {i["post"] for i in after["items"]}
    history = world.client.get(f"/v1/users/{user}/interactions?limit=5", headers=me).json()
    assert history[0]["post"] == top and history[0]["kind"] == "hide"


def test_steering_round_trip(world):
    me, user = world.auth(world.user_session), world.handles[0]
    added = world.client.post(
        f"/v1/users/{user}/steering", json={"text": "more sourdough, less politics"}, headers=me
    )
    assert added.status_code == 201, added.text
    phrases = world.client.get(f"/v1/users/{user}/steering", headers=me).json()
    assert {(p["direction"], p["phrase"]) for p in phrases} >= {("more", "sourdough"), ("less", "politics")}
    first = phrases[0]
    gone = world.client.delete(f"/v1/users/{user}/steering", params={"id": first["id"]}, headers=me)
    assert gone.status_code == 200 and gone.json()["detail"] == "removed 1 steering phrase"
    again = world.client.delete(f"/v1/users/{user}/steering", params={"id": first["id"]}, headers=me)
    assert again.status_code == 404 and "no steering phrase" in again.text
    assert len(world.client.get(f"/v1/users/{user}/steering", headers=me).json()) == len(phrases) - 1
    assert world.client.delete(f"/v1/users/{user}/steering", headers=me).status_code == 200
    assert world.client.get(f"/v1/users/{user}/steering", headers=me).json() == []
    nul = world.client.post(f"/v1/users/{user}/steering", json={"text": "more \x00chess"}, headers=me)
    assert nul.status_code == 422 and "control character" in nul.text


def test_why_not_names_a_stage(world):
    response = world.client.get(
        f"/v1/users/{world.handles[0]}/why-not/p00002", headers=world.auth(world.keys["read"])
    )
    assert response.status_code == 200, response.text
    assert response.json()["post"] == "p00002"


def test_a_post_a_user_may_not_see_is_neither_read_nor_acted_on_through_their_feed(world):
    author, reader = world.handles[1], world.handles[0]
    ingest = world.auth(world.keys["ingest"])
    body = {"id": "private-1", "author": world.store.find_user(author)["external_id"],
            "text": "my bank PIN is 9876", "visibility": "private"}
    assert world.client.post("/v1/posts", headers=ingest, json=body).status_code == 201
    read = world.auth(world.keys["read"])
    theirs = world.client.get(f"/v1/users/{reader}/why-not/private-1", headers=read)
    own = world.client.get(f"/v1/users/{author}/why-not/private-1", headers=read).json()
    assert theirs.status_code == 404 and "no post 'private-1'" in theirs.text  # not even its author's handle
    assert own["text"] == "my bank PIN is 9876"
    for kind in ("like", "report"):
        refused = world.client.post(f"/v1/users/{reader}/feedback", headers=ingest,
                                    json={"post": "private-1", "kind": kind})
        assert refused.status_code == 404 and "no post 'private-1'" in refused.text, refused.text
    with world.store.read() as conn:
        post_id = world.store.find_post("private-1", conn)["id"]
        acted = conn.exec_driver_sql(f"SELECT count(*) FROM interactions WHERE post_id = {post_id}").scalar()
        cases = conn.exec_driver_sql(f"SELECT count(*) FROM moderation_cases WHERE post_id = {post_id}").scalar()
    assert (acted, cases) == (0, 0)


def test_ingest_embeds_new_posts_and_profiles_so_the_feed_can_propose_them_at_once(world):
    ingest = world.auth(world.keys["ingest"])
    user = {"id": "embed-u1", "handle": "embedme", "bio": "sourdough and chess"}
    post = {"id": "embed-p1", "author": "embed-u1", "text": "my first sourdough loaf"}
    assert world.client.post("/v1/batch", headers=ingest, json={"records": [
        {"type": "user", **user}, {"type": "post", **post}]}).status_code == 201
    with world.store.read() as conn:
        post_id, user_id = world.store.find_post("embed-p1", conn)["id"], world.store.find_user("embedme", conn)["id"]
        posts = conn.exec_driver_sql(f"SELECT count(*) FROM post_vectors WHERE post_id = {post_id}").scalar()
        users = conn.exec_driver_sql(f"SELECT count(*) FROM user_vectors WHERE user_id = {user_id}").scalar()
    assert (posts, users) == (1, 1)


def test_a_second_like_of_the_same_post_is_not_counted_again(world):
    me, user = world.auth(world.user_session), world.handles[0]
    uid, pid = world.store.find_user(user)["id"], world.store.find_post("p00007")["id"]
    for _ in range(3):
        sent = world.client.post(f"/v1/users/{user}/feedback", json={"post": "p00007", "kind": "like"}, headers=me)
        assert sent.status_code == 201, sent.text
    with world.store.read() as conn:
        likes = conn.exec_driver_sql(
            f"SELECT count(*) FROM interactions WHERE user_id = {uid} AND post_id = {pid} AND kind = 'like'").scalar()
    assert likes == 1


def test_export_and_delete_own_data(tmp_path, demo_db):
    world = World(tmp_path, demo_db)
    user = world.handles[2]
    session = world.services.sessions.create(user)[0]
    exported = world.client.get(f"/v1/users/{user}/export", headers=world.auth(session))
    assert exported.status_code == 200 and exported.json()["user"]["handle"] == user
    assert world.client.delete(f"/v1/users/{user}", headers=world.auth(session)).status_code == 200
    assert world.client.get(f"/v1/users/{user}", headers=world.auth(world.keys["read"])).status_code == 404
    world.store.close()


def test_admin_manages_keys_over_the_api(world):
    admin = world.auth(world.keys["admin"])
    created = world.client.post("/v1/keys", json={"scopes": ["read"], "name": "ci"}, headers=admin).json()
    assert created["key"].startswith("ts_")
    listed = world.client.get("/v1/keys", headers=admin).json()
    assert "key_hash" not in listed[0] and created["id"] in {k["id"] for k in listed}
    assert world.client.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 200
    assert (
        world.client.get(f"/v1/users/{world.handles[0]}", headers=world.auth(created["key"])).status_code
        == 401
    )
    session = world.client.post("/v1/sessions", json={"user": world.handles[1]}, headers=admin).json()
    own = world.client.get(f"/v1/users/{world.handles[1]}/steering", headers=world.auth(session["token"]))
    assert own.status_code == 200


def test_rate_limit_per_key(tmp_path, demo_db):
    world = World(tmp_path, demo_db, rate_per_s=0.001, rate_burst=3)
    read = world.auth(world.keys["read"])
    codes = [world.client.get(f"/v1/users/{world.handles[0]}", headers=read).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    other = world.client.get(f"/v1/users/{world.handles[0]}", headers=world.auth(world.keys["ingest"]))
    assert other.status_code == 403  # a different key has its own bucket
    world.store.close()


def test_request_size_limit(world):
    big = {
        "records": [
            {"type": "user", "id": f"big{i}", "handle": f"big{i}", "bio": "x" * 1900} for i in range(1200)
        ]
    }
    response = world.client.post("/v1/batch", json=big, headers=world.auth(world.keys["ingest"]))
    assert response.status_code == 413
    assert "bytes" in response.json()["error"]["message"]


def _jwt(claims: dict) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFUzI1NksifQ.{part}.c2ln"


def test_bluesky_feed_generator(world):
    described = world.client.get("/xrpc/app.bsky.feed.describeFeedGenerator").json()
    feed = described["feeds"][0]["uri"]
    assert described["did"].startswith("did:") and feed.startswith("at://")
    anonymous = world.client.get(
        "/xrpc/app.bsky.feed.getFeedSkeleton", params={"feed": feed, "limit": 5}
    ).json()
    assert len(anonymous["feed"]) == 5 and anonymous["feed"][0]["post"].startswith("at://")
    more = world.client.get(
        "/xrpc/app.bsky.feed.getFeedSkeleton",
        params={"feed": feed, "limit": 5, "cursor": anonymous["cursor"]},
    ).json()
    assert not {p["post"] for p in more["feed"]} & {p["post"] for p in anonymous["feed"]}
    did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    ingest = world.auth(world.keys["ingest"])
    world.client.post("/v1/users", json={"id": did, "handle": "bsky_reader"}, headers=ingest)
    for handle in world.handles:
        target = world.store.find_user(handle)["external_id"]
        world.client.post("/v1/follows", json={"source": did, "target": target}, headers=ingest)
    personal = world.client.get(
        "/xrpc/app.bsky.feed.getFeedSkeleton",
        params={"feed": feed, "limit": 5},
        headers={"Authorization": f"Bearer {_jwt({'iss': did, 'exp': time.time() + 60})}"},
    ).json()
    assert personal["cursor"].startswith("p:")
    for claims in ({"iss": did}, {"iss": did, "exp": time.time() - 1}):  # never expires, or expired: anonymous
        answer = world.client.get("/xrpc/app.bsky.feed.getFeedSkeleton", params={"feed": feed, "limit": 5},
                                  headers={"Authorization": f"Bearer {_jwt(claims)}"}).json()
        assert answer["cursor"].startswith("g:")
    unknown = world.client.get("/xrpc/app.bsky.feed.getFeedSkeleton", params={"feed": "at://x/y/z"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "UnknownFeed"
    too_many = world.client.get("/xrpc/app.bsky.feed.getFeedSkeleton", params={"feed": feed, "limit": 101})
    assert too_many.status_code == 422


def test_the_anonymous_bluesky_feed_leaves_out_hidden_posts_and_counts_people_not_clicks(tmp_path, demo_db,
                                                                                          monkeypatch):
    from datetime import UTC, datetime, timedelta

    from townsquare.safety import gate
    from townsquare.safety.queue import decide_case, latest_case, report_post
    from townsquare.storage.schema import interactions

    world = World(tmp_path, demo_db)
    feed = world.client.get("/xrpc/app.bsky.feed.describeFeedGenerator").json()["feeds"][0]["uri"]

    def anonymous(limit: int = 100) -> list[str]:
        page = world.client.get("/xrpc/app.bsky.feed.getFeedSkeleton", params={"feed": feed, "limit": limit})
        return [item["post"].rsplit("/", 1)[1] for item in page.json()["feed"]]

    def walk(limit: int, pages: int) -> list[str]:
        out, cursor = [], None
        for _ in range(pages):
            page = world.client.get("/xrpc/app.bsky.feed.getFeedSkeleton",
                                    params={"feed": feed, "limit": limit} | ({"cursor": cursor} if cursor else {}))
            out += [item["post"].rsplit("/", 1)[1] for item in page.json()["feed"]]
            cursor = page.json()["cursor"]
        return out

    first = anonymous()
    top, last = first[0], first[-1]
    for ref in (top, first[40], first[41], first[77]):
        report_post(world.store, ref)
        decide_case(world.store, latest_case(world.store, world.store.find_post(ref)["id"])["id"], "mod", "hide")
    assert not {top, first[40], first[41], first[77]} & set(walk(100, 2))
    assert walk(7, 30) == walk(100, 3)[:210]  # pages read moderation a chunk at a time: no gap, no repeat
    monkeypatch.setattr(gate, "SLACK", 0)  # each hidden post costs another chunk
    assert walk(7, 30) == walk(100, 3)[:210]
    clicker, post = world.store.find_user(world.handles[1])["id"], world.store.find_post(last)["id"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with world.store.begin() as conn:
        conn.execute(interactions.insert(), [{"user_id": clicker, "post_id": post, "kind": "like",
                                              "created_at": start + timedelta(seconds=i)} for i in range(50)])
    assert anonymous(5)[0] != last  # one person's fifty likes are one like


def wait_ready(client, seconds: float = 120.0) -> dict:
    """Poll /readyz: it answers 503 "loading" while this worker builds its feed index."""
    deadline = time.monotonic() + seconds
    while True:
        answer = client.get("/readyz")
        assert answer.status_code in (200, 503), answer.text
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer.json()
        assert answer.json()["status"] == "loading", answer.text
        time.sleep(0.2)


def test_health_ready_and_metrics(world):
    assert world.client.get("/healthz").json() == {"status": "ok"}
    assert wait_ready(world.client)["status"] == "ready"
    world.client.get(f"/v1/users/{world.handles[0]}/feed?limit=3", headers=world.auth(world.keys["read"]))
    text = world.client.get("/metrics").text
    assert 'route="/v1/users/{user}/feed"' in text
    assert "townsquare_feed_stage_seconds_count" in text and "townsquare_moderation_queue_depth" in text

    def gauge(name: str) -> float:
        return float(re.search(rf"^{name} (\S+)$", world.client.get("/metrics").text, re.MULTILINE).group(1))

    assert gauge("townsquare_moderation_queue_depth") == 0 == gauge("townsquare_moderation_oldest_waiting_seconds")
    world.client.post(f"/v1/users/{world.handles[0]}/feedback", json={"post": "p00005", "kind": "report"},
                      headers=world.auth(world.user_session))  # a case waits
    time.sleep(0.05)
    assert gauge("townsquare_moderation_queue_depth") == 1 and gauge("townsquare_moderation_oldest_waiting_seconds") > 0


def test_openapi_is_served(world):
    schema = world.client.get("/v1/openapi.json").json()
    assert "/v1/users/{user}/feed" in schema["paths"]


def test_the_api_docs_page_needs_no_internet(world):
    import re

    page = world.client.get("/v1/docs")
    assert page.status_code == 200 and "/v1/openapi.json" in page.text
    linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert linked and not [url for url in linked if not url.startswith("/")], linked  # all from this server
    for url in linked:
        assert world.client.get(url).status_code == 200, url


def test_reply_suggestions_drafts_and_the_assistant(world):
    me, user = world.auth(world.user_session), world.handles[0]
    found = world.client.post(f"/v1/users/{user}/suggestions", json={"post": "p00005"}, headers=me)
    assert found.status_code == 200, found.text
    assert found.json()["items"] or found.json()["reasons"]
    rewrite = world.client.post(
        f"/v1/users/{user}/drafts/rewrite",
        json={"text": "I think this is a really very long sentence about bread", "how": "shorter"},
        headers=me,
    )
    assert rewrite.status_code == 200 and rewrite.json()["text"]
    answer = world.client.post(
        f"/v1/users/{user}/assistant", json={"question": "what about sourdough?"}, headers=me
    )
    assert answer.status_code == 200 and answer.json()["text"]


def test_what_a_user_did_with_a_suggestion_is_recorded_for_them_only(world):
    from sqlalchemy import select

    from townsquare.storage.interact_schema import interact_suggestions

    me, user = world.auth(world.user_session), world.handles[0]
    items = next(items for n in range(1, 60) if (items := world.client.post(
        f"/v1/users/{user}/suggestions", json={"post": f"p{n:05d}"}, headers=me).json()["items"]))
    first = items[0]["id"]
    url = f"/v1/users/{user}/suggestions/{first}/feedback"
    edited = world.client.post(url, json={"outcome": "edited", "text": "my own words"}, headers=me)
    assert edited.status_code == 201, edited.text
    with world.store.read() as conn:
        row = conn.execute(select(interact_suggestions).where(interact_suggestions.c.id == first)).mappings().one()
    assert (row["outcome"], row["final_text"]) == ("edited", "my own words")
    assert world.client.post(url, json={"outcome": "picked", "text": "x"}, headers=me).status_code == 422
    other = world.client.post(f"/v1/users/{world.handles[1]}/suggestions/{first}/feedback",
                              json={"outcome": "ignored"}, headers=world.auth(world.other_session))
    assert other.status_code == 404  # not their suggestion


def test_one_user_reports_a_post_once_and_cannot_reopen_its_case_at_will(tmp_path, demo_db):
    world = World(tmp_path, demo_db)
    reporter, moderate = world.handles[0], world.auth(world.keys["moderate"])
    post = world.client.get(f"/v1/users/{reporter}/feed?limit=1", headers=world.auth(world.user_session)
                            ).json()["items"][0]["post"]

    def cases() -> list[dict]:
        return [c for c in world.client.get("/v1/moderation/queue?status=all", headers=moderate).json()
                if c["post"] == post]

    for _ in range(3):  # report, a moderator allows it, report again...
        answer = world.client.post(f"/v1/users/{reporter}/feedback", json={"post": post, "kind": "report"},
                                   headers=world.auth(world.user_session))
        assert answer.status_code == 201
        for case in cases():
            if case["status"] == "open":
                world.client.post(f"/v1/moderation/cases/{case['id']}/decision", json={"action": "allow"},
                                  headers=moderate)
    assert len(cases()) == 1
    world.store.close()


def test_report_queue_decision_and_appeal(tmp_path, demo_db):
    world = World(tmp_path, demo_db)
    reporter = world.handles[0]
    post = world.client.get(
        f"/v1/users/{reporter}/feed?limit=1", headers=world.auth(world.user_session)
    ).json()
    reported = post["items"][0]["post"]
    world.client.post(
        f"/v1/users/{reporter}/feedback",
        json={"post": reported, "kind": "report"},
        headers=world.auth(world.user_session),
    )
    moderate = world.auth(world.keys["moderate"])
    queue = world.client.get("/v1/moderation/queue", headers=moderate).json()
    case = next(c for c in queue if c["post"] == reported)
    decided = world.client.post(
        f"/v1/moderation/cases/{case['id']}/decision", json={"action": "hide"}, headers=moderate
    )
    assert decided.status_code == 201 and decided.json()["action"] == "hide"
    assert all(
        c["post"] != reported for c in world.client.get("/v1/moderation/queue", headers=moderate).json()
    )
    bystander = world.client.post(
        f"/v1/moderation/cases/{case['id']}/appeal",
        json={"reason": "no"},
        headers=world.auth(world.user_session),
    )
    assert bystander.status_code == 404 and f"no moderation case {case['id']}" in bystander.text  # not theirs
    unbound = world.client.post(f"/v1/moderation/cases/{case['id']}/appeal", json={"reason": "no"},
                                headers=world.auth(world.keys["admin"]))
    assert unbound.status_code == 403  # a key for no user may not appeal; it may know the case
    author_id = world.store.find_post(reported)["author_id"]
    with world.store.begin() as conn:  # once the reporter blocks the author, the case is one they cannot see
        conn.execute(edges.insert().values(source_id=world.store.find_user(reporter)["id"], target_id=author_id,
                                           kind="block"))
    hidden = world.client.post(
        f"/v1/moderation/cases/{case['id']}/appeal", json={"reason": "no"}, headers=world.auth(world.user_session)
    )
    assert hidden.status_code == 404 and f"no moderation case {case['id']}" in hidden.text
    author = world.store.find_user(author_id)["handle"]
    session = world.services.sessions.create(author)[0]
    appealed = world.client.post(
        f"/v1/moderation/cases/{case['id']}/appeal",
        json={"reason": "it was a joke"},
        headers=world.auth(session),
    )
    assert appealed.status_code == 201
    assert any(
        c["id"] == case["id"]
        for c in world.client.get("/v1/moderation/queue?status=appealed", headers=moderate).json()
    )
    world.store.close()


def test_chunked_bodies_are_measured_and_still_reach_the_route(world):
    def chunks(n: int):
        body = json.dumps(
            {
                "records": [
                    {"type": "user", "id": f"ch{i}", "handle": f"ch{i}", "bio": "y" * 1900} for i in range(n)
                ]
            }
        ).encode()
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    headers = {**world.auth(world.keys["ingest"]), "content-type": "application/json"}
    small = world.client.post("/v1/batch", content=chunks(3), headers=headers)
    assert small.status_code == 201, small.text
    assert world.client.post("/v1/batch", content=chunks(1200), headers=headers).status_code == 413


def test_readyz_waits_for_the_feed_index(tmp_path, demo_db):
    world = World(tmp_path, demo_db)
    first = world.client.get("/readyz")
    assert first.status_code == 503 and first.json()["status"] == "loading", first.text
    assert wait_ready(world.client)["status"] == "ready"


def test_a_missing_policy_file_stops_the_feed_instead_of_serving_it_unmoderated(tmp_path, demo_db):
    """TOWNSQUARE_SAFETY_POLICY naming a file that is not there: /readyz says failed and why, and no feed
    is served (it used to log a warning and serve every post unmoderated)."""
    import shutil

    from fastapi.testclient import TestClient

    from tests.web.conftest import HashEmbedder
    from townsquare.settings import Settings
    from townsquare.web import create_app
    from townsquare.web.config import WebConfig

    shutil.copy(demo_db, tmp_path / "townsquare.sqlite")
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'townsquare.sqlite'}",
                        safety_policy=tmp_path / "no-such-policy.toml")
    app = create_app(settings, WebConfig(demo=True), embedder=HashEmbedder())
    client = TestClient(app, raise_server_exceptions=False)
    deadline = time.monotonic() + 120
    while (answer := client.get("/readyz")).json()["status"] == "loading" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer.status_code == 503 and answer.json()["status"] == "failed"
    assert "no-such-policy.toml not found" in answer.json()["detail"]
    key = app.state.services.keys.create(["read"], name="read")[0]
    handle = app.state.services.store.find_user(1)["handle"]
    feed = client.get(f"/v1/users/{handle}/feed", headers={"authorization": f"Bearer {key}"})
    assert feed.status_code == 503 and "no-such-policy.toml not found" in feed.json()["error"]["message"]
    # the file written at last: after RETRY_FEED_S the worker loads the feed again, and is ready
    shutil.copy(Path(__file__).parents[2] / "townsquare" / "safety" / "default_policy.toml", tmp_path / "no-such-policy.toml")
    app.state.services._feed_failed_at -= 60  # as if RETRY_FEED_S had passed
    deadline = time.monotonic() + 120
    while (answer := client.get("/readyz")).json()["status"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer.json()["status"] == "ready", answer.json()


def test_many_cases_are_decided_in_one_request_all_or_none(tmp_path, demo_db):
    world = World(tmp_path, demo_db)
    moderate = world.auth(world.keys["moderate"])
    for post in ("p00005", "p00006", "p00007"):  # three reports, three cases
        world.client.post(f"/v1/users/{world.handles[0]}/feedback", json={"post": post, "kind": "report"},
                          headers=world.auth(world.user_session))
    cases = [c["id"] for c in world.client.get("/v1/moderation/queue", headers=moderate).json()]
    assert len(cases) >= 3
    reported = world.client.get("/v1/moderation/queue", params={"classifier": "user_reports"}, headers=moderate)
    assert [c["id"] for c in reported.json()] == cases  # they are all reports
    assert world.client.get("/v1/moderation/queue", params={"classifier": "spam"}, headers=moderate).json() == []
    assert world.client.get("/v1/moderation/queue", params={"classifier": "no such"}, headers=moderate).status_code == 422
    unknown = world.client.post("/v1/moderation/decisions", json={"cases": [*cases, 10**9], "action": "hide"},
                                headers=moderate)
    assert unknown.status_code == 404 and f"no moderation case {10**9}" in unknown.json()["error"]["message"]
    assert len(world.client.get("/v1/moderation/queue", headers=moderate).json()) == len(cases)  # none recorded
    empty = world.client.post("/v1/moderation/decisions", json={"cases": [], "action": "hide"}, headers=moderate)
    assert empty.status_code == 422 and "cases" in empty.text
    reader = world.client.post("/v1/moderation/decisions", json={"cases": cases, "action": "hide"},
                               headers=world.auth(world.keys["read"]))
    assert reader.status_code == 403
    decided = world.client.post("/v1/moderation/decisions", json={"cases": cases, "action": "demote", "note": "sweep"},
                                headers=moderate)
    assert decided.status_code == 201 and [d["case_id"] for d in decided.json()] == cases
    assert world.client.get("/v1/moderation/queue", headers=moderate).json() == []
    health = world.client.get("/v1/moderation/health", headers=moderate).json()
    assert (health["open"], health["decided"], health["oldest_waiting_hours"]) == (0, len(cases), None)
    assert 0 <= health["median_hours_to_decision"] < 1 and health["days"] == 30
    world.store.close()


def test_an_edited_policy_is_applied_to_the_queue_on_request(tmp_path, demo_db):
    """POST /v1/moderation/redecide: the policy in force, read again after an edit, decides the stored scores
    again: the posts it now sends to review get cases; for moderators only."""
    from sqlalchemy import select

    from townsquare.safety import score_posts
    from townsquare.storage.schema import posts

    policy = tmp_path / "policy.toml"
    rule = '[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\nthreshold = 0.5\naction = "{}"\n'
    policy.write_text(rule.format("label"))
    world = World(tmp_path, demo_db, moderation="auto", policy=policy, policy_check_s=3600)  # checked by hand
    with world.store.read() as conn:
        ids = list(conn.execute(select(posts.c.id).order_by(posts.c.id).limit(300)).scalars())
    scored = score_posts(world.store, ids, world.services.scorer(), world.services.policy())
    labelled = scored.actions.get("label", 0)
    assert scored.enqueued == 0 and labelled >= 1  # labels open no case
    moderate = world.auth(world.keys["moderate"])
    assert world.client.post("/v1/moderation/redecide", headers=world.auth(world.keys["read"])).status_code == 403
    policy.write_text(rule.format("review"))
    assert world.services._policy_watch.check()
    answer = world.client.post("/v1/moderation/redecide", headers=moderate)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"community": "default", "posts": 300, "actions": {"allow": 300 - labelled, "review": labelled},
                             "new_cases": labelled, "updated_cases": 0}
    queue = world.client.get("/v1/moderation/queue", params={"limit": 500}, headers=moderate).json()
    assert len(queue) == labelled and all(c["suggested_action"] == "review" for c in queue)
    again = world.client.post("/v1/moderation/redecide", headers=moderate).json()
    assert (again["new_cases"], again["updated_cases"]) == (0, labelled)
    world.services.close()
    world.store.close()


def test_a_nul_character_is_a_clear_422_on_every_store(store, tmp_path):
    """PostgreSQL cannot store 0x00 in text; it was a 500 wherever one reached the database."""
    from fastapi.testclient import TestClient

    from tests.web.conftest import HashEmbedder
    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import UserRecord
    from townsquare.settings import Settings
    from townsquare.web import create_app
    from townsquare.web.config import WebConfig

    Loader(store).load([UserRecord(id="u1", handle="ada")])
    app = create_app(Settings(data_dir=tmp_path), WebConfig(demo=True, generate_replies=False,
                                                             moderate_on_ingest=False),
                     store=store, embedder=HashEmbedder(), moderation=None)
    client = TestClient(app, raise_server_exceptions=False)
    ingest = {"Authorization": f"Bearer {app.state.services.keys.create(['ingest'])[0]}"}
    read = {"Authorization": f"Bearer {app.state.services.keys.create(['read'])[0]}"}
    posted = client.post("/v1/posts", headers=ingest, json={"id": "p1", "author": "u1", "text": "a \u0000 b"})
    assert posted.status_code == 422 and "NUL" in posted.text, posted.text
    postgres = store.dialect == "postgresql"  # SQLite stores a NUL; PostgreSQL refuses it
    looked = client.get("/v1/users/a%00b/feed", headers=read)
    assert looked.status_code == (422 if postgres else 404), looked.text
    steered = client.post("/v1/users/u1/steering", headers=ingest, json={"text": "more \u0000 chess"})
    assert steered.status_code == 422 and "control character" in steered.text, steered.text  # on every store
    for kind in ("follows", "blocks", "mutes"):  # the edge routes build their records themselves: were 500s
        made = client.post(f"/v1/{kind}", headers=ingest, json={"source": "u1", "target": "a\u0000b"})
        assert made.status_code == 422 and "NUL" in made.text, made.text
        removed = client.delete(f"/v1/{kind}?source=u1&target=a%00b", headers=ingest)
        assert removed.status_code == 422 and "NUL" in removed.text and "target" in removed.text, removed.text
    for ref in ("%C2%B3", "%E2%91%A0"):  # superscript 3 and circled 1: digits to str.isdigit, not to int()
        assert client.get(f"/v1/users/{ref}/feed", headers=read).status_code == 404


def test_a_body_that_is_not_json_gets_a_status_and_words_that_say_so(world):
    """A parse error named a character offset as the field; another content type was told the body should be
    a dictionary; garbage got Starlette's bare 'There was an error parsing the body'."""
    client, headers = world.client, world.auth(world.keys["ingest"])
    cases = [('{"id":', "application/json", 422, "not valid JSON at character 6"),
             ("id=u1&handle=x", "application/x-www-form-urlencoded", 415, "sent as application/x-www-form-urlencoded"),
             ('{"id": "u9", "handle": "nine"}', "text/plain", 415, "Content-Type: application/json"),
             ("[" * 6000 + "]" * 6000, "application/json", 422, "could not be read as JSON")]
    for body, content_type, status, words in cases:
        answer = client.post("/v1/users", content=body.encode(), headers={**headers, "Content-Type": content_type})
        assert answer.status_code == status and words in answer.json()["error"]["message"], answer.text


def test_the_openapi_schema_documents_the_errors_the_api_answers(world):
    spec = world.client.get("/v1/openapi.json").json()
    responses = spec["paths"]["/v1/users/{user}"]["get"]["responses"]
    assert {"401", "403", "404", "409", "422", "429", "503"} <= set(responses)
    assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in str(spec)  # FastAPI's own 422 body, which the API never sends


def test_a_key_bound_to_a_user_cannot_touch_a_post_they_may_not_see_nor_learn_it_is_there(tmp_path, demo_db):
    """A like on a private post put its text in the liker's feed; a reply or quote reached it; deleting it
    answered 403 naming its author. Now each answers as for a post that does not exist."""
    world = World(tmp_path, demo_db)
    ingest = world.auth(world.keys["ingest"])
    owner, other = (world.store.find_user(h)["external_id"] for h in world.handles[:2])
    made = world.client.post("/v1/posts", headers=ingest, json={"id": "secret-1", "author": owner, "text": "SECRET",
                                                                 "visibility": "private"})
    assert made.status_code == 201, made.text
    key = world.services.keys.create(["ingest", "read"], name="theirs", user=world.handles[1])[0]
    bound = world.auth(key)

    def same(missing: str, private: str, path: str, body: dict) -> None:
        answers = [world.client.post(path, headers=bound, json={k: (v.format(ref) if isinstance(v, str) else v)
                                                                 for k, v in body.items()})
                   for ref in (missing, private)]
        assert [a.status_code for a in answers] == [422, 422], [a.text for a in answers]
        messages = [a.json()["error"]["message"] for a in answers]
        assert messages[0].replace(missing, "X") == messages[1].replace(private, "X"), messages

    same("no-such-post", "secret-1", "/v1/interactions", {"user": other, "post": "{}", "kind": "like"})
    same("no-such-post", "secret-1", "/v1/posts", {"id": "r-1", "author": other, "text": "hi", "reply_to": "{}"})
    same("no-such-post", "secret-1", "/v1/posts", {"id": "q-1", "author": other, "text": "hi", "quote_of": "{}"})
    for ref in ("no-such-post", "secret-1"):
        assert world.client.delete(f"/v1/posts/{ref}", headers=bound).status_code == 404
    theirs = world.store.find_user(world.handles[1])["id"]
    with world.store.read() as conn:  # someone else's public post: it may be seen, not deleted
        public = conn.exec_driver_sql("SELECT external_id FROM posts WHERE author_id != ? AND visibility = 'public' "
                                      "AND NOT deleted ORDER BY id LIMIT 1", (theirs,)).scalar()
    assert world.client.delete(f"/v1/posts/{public}", headers=bound).status_code == 403
    world.store.close()


def test_a_bound_key_s_post_check_reads_the_same_on_every_store(store):
    """The check asks the database for each named post and whether the user may see it, in one query."""
    from townsquare.errors import InputError
    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import InteractionRecord, PostRecord, UserRecord
    from townsquare.web.routers.ingest import _only_posts_they_may_see

    Loader(store).load([UserRecord(id="a", handle="a"), UserRecord(id="b", handle="b"),
                        PostRecord(id="open", author="a", text="x"),
                        PostRecord(id="shut", author="a", text="y", visibility="private")])
    reader = store.find_user("b")["id"]
    _only_posts_they_may_see(store, reader, [InteractionRecord(user="b", post="open", kind="like"),
                                             InteractionRecord(user="b", post="nowhere", kind="like")])
    with pytest.raises(InputError, match="unknown post 'shut'"):
        _only_posts_they_may_see(store, reader, [InteractionRecord(user="b", post="shut", kind="like")])


def test_a_moderator_key_bound_to_a_user_decides_under_their_handle(tmp_path, demo_db):
    """A bound key's decisions were recorded as "key:N": ``user export`` missed them and deleting the user
    left them unanonymised."""
    from townsquare.storage.privacy import delete_user, export_user

    world = World(tmp_path, demo_db)
    reporter, moderator = world.handles[0], world.handles[2]
    reported = world.client.get(f"/v1/users/{reporter}/feed?limit=1",
                                headers=world.auth(world.user_session)).json()["items"][0]["post"]
    world.client.post(f"/v1/users/{reporter}/feedback", json={"post": reported, "kind": "report"},
                      headers=world.auth(world.user_session))
    bound = world.auth(world.services.keys.create(["moderate"], name="mod", user=moderator)[0])
    case = next(c for c in world.client.get("/v1/moderation/queue", headers=bound).json() if c["post"] == reported)
    decided = world.client.post(f"/v1/moderation/cases/{case['id']}/decision", json={"action": "demote"},
                                headers=bound)
    assert decided.status_code == 201 and decided.json()["moderator"] == moderator
    again = world.client.post("/v1/moderation/decisions", json={"cases": [case["id"]], "action": "allow"},
                              headers=bound)
    assert again.status_code == 201 and again.json()[0]["moderator"] == moderator
    assert [d["action"] for d in export_user(world.store, moderator)["decisions_made"]] == ["demote", "allow"]
    assert delete_user(world.store, moderator)["decisions_unnamed"] == 2
    world.store.close()


def test_a_decided_appeal_is_not_offered_or_taken_again(tmp_path, demo_db):
    """After the appeal was decided and the case closed, the post page offered the form again and a second
    appeal reopened the case: one appeal per decision."""
    from urllib.parse import parse_qs, urlsplit

    from townsquare.safety import decide_case, list_cases

    world = World(tmp_path, demo_db, moderation="auto", moderate_on_ingest=True)
    client = world.client
    signed = client.post("/signin", data={"handle": world.handles[0]}, follow_redirects=False)
    client.cookies.set("townsquare_session", signed.cookies["townsquare_session"])
    posted = client.post("/compose", data={"text": "Selling my bike, call me on 07700 900123 or mail ann.lee@example.org"},
                         follow_redirects=False)
    page = urlsplit(posted.headers["location"]).path
    [case] = list_cases(world.store)
    decide_case(world.store, case["id"], "mod-ann", "hide")
    appealed = client.post(page + "/appeal", data={"reason": "it is my own number"}, follow_redirects=False)
    assert parse_qs(urlsplit(appealed.headers["location"]).query)["notice"][0].startswith("Appeal sent")
    decide_case(world.store, case["id"], "mod-ben", "hide")  # upheld: the case is closed
    world.services.moderation_changed([case["post_id"]])
    text = client.get(page).text
    assert "A moderator decided your appeal on" in text and 'action="' + page + '/appeal"' not in text
    again = client.post(page + "/appeal", data={"reason": "please look once more"}, follow_redirects=False)
    assert "a decision is appealed once" in parse_qs(urlsplit(again.headers["location"]).query)["notice"][0]
    assert list_cases(world.store, status="appealed") == []
    world.store.close()


def test_the_queue_filters_by_any_name_train_classifier_gives(tmp_path, demo_db):
    """The filter took only lower-case letters, digits and _; a classifier trained as "Tone-2" was a 422."""
    from datetime import UTC, datetime

    from townsquare.storage.moderation_schema import moderation_cases

    world = World(tmp_path, demo_db)
    post = world.store.find_post("p00005")
    reason = {"classifier": "Tone-2", "label": "rude", "score": 0.9, "threshold": 0.5, "action": "review",
              "factor": 1.0, "precision": None, "spans": [], "why": "review because Tone-2: rude 0.90 >= 0.50",
              "rejected_label": "kind"}
    now = datetime.now(UTC)
    with world.store.begin() as conn:
        conn.execute(moderation_cases.insert().values(post_id=post["id"], community="default", status="open",
                                                      suggested_action="review", priority=0.9, reasons=[reason],
                                                      created_at=now, updated_at=now))
    moderate = world.auth(world.keys["moderate"])
    found = world.client.get("/v1/moderation/queue?classifier=Tone-2", headers=moderate)
    assert found.status_code == 200 and [c["post"] for c in found.json()] == ["p00005"]
    assert world.client.get("/v1/moderation/queue?classifier=spam", headers=moderate).json() == []
    assert world.client.get("/v1/moderation/queue?classifier=no%20spaces", headers=moderate).status_code == 422
    signed = world.client.post("/signin", data={"handle": world.handles[1], "moderator": "true"},
                               follow_redirects=False)
    world.client.cookies.set("townsquare_session", signed.cookies["townsquare_session"])
    page = world.client.get("/moderation?reason=Tone-2")
    assert page.status_code == 200 and "Tone-2: rude" in page.text
    world.store.close()


def test_a_post_the_policy_demotes_for_a_label_still_shows_the_label(tmp_path, demo_db):
    """Past the default policy's demote threshold (0.87) as well as its label one (0.77), a post lost the label."""
    from datetime import UTC, datetime

    from townsquare.storage.moderation_schema import moderation_scores

    world = World(tmp_path, demo_db, moderation="auto")
    post = world.store.find_post("p00005")
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert().values(
            post_id=post["id"], classifier="offensive", version="test", scores={"not-offensive": 0.04, "offensive": 0.96},
            spans=[], top_score=0.96, scored_at=datetime.now(UTC)))
    signed = world.client.post("/signin", data={"handle": world.handles[0]}, follow_redirects=False)
    world.client.cookies.set("townsquare_session", signed.cookies["townsquare_session"])
    assert "Labelled: offensive" in world.client.get("/posts/p00005").text
    world.store.close()
