"""The web app's pages through the in-process client (the browser test drives the same in Chromium)."""

from __future__ import annotations

import html as html_text
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from tests.web.conftest import World
from townsquare.feed.explain import first_words
from townsquare.web.pages.moderation import marked


def _signed_in(world, moderator: bool = False):
    client = world.client
    client.cookies.clear()
    response = client.post(
        "/signin",
        data={"handle": world.handles[0], **({"moderator": "true"} if moderator else {})},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "townsquare_session" in response.cookies
    client.cookies.set("townsquare_session", response.cookies["townsquare_session"])
    return client


def _posts(html: str) -> list[str]:
    return re.findall(r'data-post="([^"]+)"', html)


def test_a_bad_cursor_on_the_home_page_is_an_error_status_with_words(world):
    page = _signed_in(world).get("/home", params={"cursor": "garbage"})
    assert page.status_code == 422 and "cursor" in page.text


def test_an_expired_cursor_on_the_home_page_starts_a_new_feed_and_says_so(world):
    """"More posts" after 30 minutes away showed no posts and "field 'cursor': this feed cursor has expired"."""
    from sqlalchemy import update

    from townsquare.storage.feed_schema import feed_sessions

    client = _signed_in(world)
    first = client.get("/home").text
    cursor = html_text.unescape(re.search(r'id="more" href="/home\?cursor=([^"]+)"', first).group(1))
    world.services.feed.sessions.flush()
    with world.store.begin() as conn:
        conn.execute(update(feed_sessions).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    page = client.get("/home", params={"cursor": cursor})
    assert page.status_code == 200 and len(_posts(page.text)) >= 10
    assert "Your feed was refreshed" in page.text
    assert 'class="error"' not in page.text and "this feed cursor has expired" not in page.text


def test_ids_too_big_for_a_key_are_an_error_page_not_a_500(world):
    huge = "9" * 23
    moderator = _signed_in(world, moderator=True)
    for response in (moderator.post(f"/moderation/{huge}", data={"action": "hide"}),
                     moderator.post("/moderation", data={"action": "hide", "case": [huge]}),
                     _signed_in(world).post("/unsteer", data={"phrase": huge})):
        assert response.status_code == 422, response.text


def test_pages_need_a_session(world):
    world.client.cookies.clear()
    for path in ("/home", "/compose", "/moderation", "/moderation/policy", "/dashboard", "/assistant", "/posts/p00001",
                 f"/@{world.handles[1]}"):
        response = world.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/signin", path
    for path in ("/act", "/compose", "/steer", "/unsteer", "/draft", "/moderation", "/moderation/1",
                 "/moderation/policy/apply", "/posts/p00001/appeal"):
        response = world.client.post(path, data={}, follow_redirects=False)  # no session, and no form either
        assert response.status_code == 303 and response.headers["location"] == "/signin", path


def test_home_explains_every_post_and_hide_changes_it(world):
    client = _signed_in(world)
    html = client.get("/home").text
    posts = _posts(html)
    assert len(posts) >= 10 and html.count("Why am I seeing this?") == len(posts)
    client.post("/act", data={"post": posts[0], "kind": "hide"})
    assert posts[0] not in _posts(client.get("/home").text)


def test_home_says_in_words_what_moved_a_post(world):
    client = _signed_in(world)
    world.services.feed.steer(world.handles[0], "more chess")
    html = client.get("/home").text
    moved = html_text.unescape(" ".join(re.findall(r'<p class="muted">Adjusted: ([^<]*)</p>', html)))
    assert "you asked for more 'chess'" in moved and "stage" not in moved  # sentences, not records


def test_a_steering_error_reaches_the_page_whole(world):
    client = _signed_in(world)
    moved = client.post("/steer", data={"text": "more & #"}, follow_redirects=False)
    notice = parse_qs(urlsplit(moved.headers["location"]).query)["notice"][0]
    assert "no topic found after 'more' or 'less' in 'more & #'" in notice  # '&' and '#' kept
    assert "more &amp; #" in client.get(moved.headers["location"]).text


def test_steering_says_what_of_the_text_it_took(world):
    client = _signed_in(world)
    moved = client.post("/steer", data={"text": "more 🎉🎉, less gardening"}, follow_redirects=False)
    notice = parse_qs(urlsplit(moved.headers["location"]).query)["notice"][0]
    assert notice == "Steering saved: less gardening", notice  # the emoji alone named no topic
    client.post("/unsteer", data={"phrase": str(world.services.feed.steering(world.handles[0])[-1].id)})


def test_home_shows_what_a_reply_answers(world):
    """A reply in the feed carries its parent's author and first words; a parent the viewer may not
    see (not public, or by someone they block) is named as hidden, never quoted."""
    from sqlalchemy import select, update

    from townsquare.storage.schema import posts

    client = _signed_in(world)
    with world.store.read() as conn:
        replies = dict(conn.execute(select(posts.c.external_id, posts.c.reply_to_id)
                                    .where(posts.c.reply_to_id.is_not(None))).all())
    html, seen = "", []
    for _ in range(5):  # scroll until the feed has shown a reply
        html = client.get("/home").text
        seen = [p for p in _posts(html) if p in replies]
        if seen:
            break
        client.post("/act", data={"post": _posts(html)[0], "kind": "hide"})
    assert seen, "no reply in five first pages of the demo"
    shown = html_text.unescape(re.sub(r"<[^>]+>", "", " ".join(re.findall(r'<p class="muted replying">(.*?)</p>', html))))
    with world.store.read() as conn:
        parent = conn.execute(select(posts.c.text).where(posts.c.id == replies[seen[0]])).scalar_one()
    assert "Replying to @" in shown and " ".join(parent.split())[:20] in shown

    from sqlalchemy import delete, insert

    from townsquare.storage.schema import edges
    from townsquare.web.pages.posts import replied_to

    me = world.store.find_user(world.handles[0])["id"]
    author = world.store.find_post(replies[seen[0]])["author_id"]
    assert replied_to(world.services, me, [seen[0]])[seen[0]]["post"] is not None
    with world.store.begin() as conn:
        conn.execute(update(posts).where(posts.c.id == replies[seen[0]]).values(visibility="private"))
    try:
        hidden = replied_to(world.services, me, [seen[0]])[seen[0]]
        assert hidden["author"] is None and hidden["text"] is None and hidden["post"] is None
    finally:
        with world.store.begin() as conn:
            conn.execute(update(posts).where(posts.c.id == replies[seen[0]]).values(visibility="public"))
    if author != me:  # the post page's rule: a parent by someone the viewer blocks is not quoted either
        with world.store.begin() as conn:
            conn.execute(insert(edges).values(source_id=me, target_id=author, kind="block"))
        try:
            assert replied_to(world.services, me, [seen[0]])[seen[0]]["author"] is None
        finally:
            with world.store.begin() as conn:
                conn.execute(delete(edges).where(edges.c.source_id == me, edges.c.target_id == author))


def test_unknown_actions_are_refused(world):
    client = _signed_in(world)
    assert client.post("/act", data={"post": "p00001", "kind": "delete_everything"}).status_code == 422


def test_moderation_page_is_for_moderators(world):
    """Every moderators' page and form refuses anyone else, with the error page, and records nothing."""
    from sqlalchemy import func, select

    from townsquare.storage.moderation_schema import moderation_decisions

    member = _signed_in(world)
    with world.store.read() as conn:
        before = conn.execute(select(func.count()).select_from(moderation_decisions)).scalar_one()
    for response in (member.get("/moderation"), member.get("/moderation/policy"),
                     member.post("/moderation/1", data={"action": "hide"}),
                     member.post("/moderation", data={"action": "hide", "case": ["1"]}),
                     member.post("/moderation/policy/apply")):
        assert response.status_code == 403 and "This is for moderators" in response.text
    with world.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(moderation_decisions)).scalar_one() == before
    assert _signed_in(world, moderator=True).get("/moderation").status_code == 200


def test_moderation_page_marks_the_personal_data_it_found(tmp_path, demo_db):
    from townsquare.safety import score_posts

    world = World(tmp_path, demo_db)
    [post_id] = [i for (i,) in world.store.engine.connect().exec_driver_sql(
        "SELECT id FROM posts WHERE text LIKE '%07700 900418%'")]
    score_posts(world.store, [post_id], world.services.scorer(), world.services.policy())
    html = _signed_in(world, moderator=True).get("/moderation").text
    assert '<mark class="span-phone" title="phone">07700 900418</mark>' in html
    assert '<mark class="span-email" title="email">marta.quill.demo@example.org</mark>' in html
    assert '<mark class="span-address" title="address">22 Orchard Close</mark>' in html
    items = re.findall(r'<li title="[^"]*">(.*?)</li>', html, re.DOTALL)
    reasons = [" ".join(html_text.unescape(li).split()) for li in items]
    assert reasons[0].startswith("<strong>hide</strong>: personal data 1.00 ≥ 0.95 · phone, email, address")
    world.store.close()


def test_a_post_the_policy_labels_shows_its_label(tmp_path, demo_db):
    from datetime import UTC, datetime

    from townsquare.storage.moderation_schema import moderation_scores

    world = World(tmp_path, demo_db, moderation="auto")
    post = world.store.find_post("p00005")
    with world.store.begin() as conn:  # between the default policy's label (0.77) and demote (0.87) thresholds
        conn.execute(moderation_scores.insert().values(
            post_id=post["id"], classifier="offensive", version="test", scores={"not-offensive": 0.2, "offensive": 0.8},
            spans=[], top_score=0.8, scored_at=datetime.now(UTC)))
    client = _signed_in(world)
    assert "Labelled: offensive" in client.get("/posts/p00005").text
    unlabelled = client.get("/posts/p00006")
    assert unlabelled.status_code == 200 and "Labelled:" not in unlabelled.text
    world.store.close()


def test_pages_never_show_or_touch_a_post_the_viewer_may_not_see(tmp_path, demo_db):
    """Replying to, liking or reporting a private post of someone else is the same 404 as opening it:
    no text of it on any page, nothing recorded."""
    from sqlalchemy import func, select, update

    from townsquare.storage.schema import interactions, posts

    world = World(tmp_path, demo_db)
    me = world.store.find_user(world.handles[0])["id"]
    with world.store.begin() as conn:
        ref, text = conn.execute(select(posts.c.external_id, posts.c.text).where(
            posts.c.author_id != me, posts.c.reply_to_id.is_(None)).order_by(posts.c.id).limit(1)).one()
        conn.execute(update(posts).where(posts.c.external_id == ref).values(visibility="private"))
    client = _signed_in(world)

    def counts():
        with world.store.read() as conn:
            return [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (posts, interactions)]

    before = counts()
    for response in (client.get(f"/compose?reply_to={ref}"), client.get(f"/posts/{ref}"),
                     client.post("/act", data={"post": ref, "kind": "like"}, follow_redirects=False),
                     client.post("/act", data={"post": ref, "kind": "report"}, follow_redirects=False),
                     client.post("/compose", data={"text": "hi", "reply_to": ref}, follow_redirects=False)):
        assert response.status_code == 404 and first_words(text, 20) not in response.text
    assert counts() == before
    world.store.close()


def test_marked_cuts_text_at_spans_that_still_match():
    text = "call 555-0101 or mail a@b.co"
    spans = [{"start": 22, "end": 28, "kind": "email", "text": "a@b.co"},
             {"start": 5, "end": 13, "kind": "phone", "text": "555-0101"},
             {"start": 5, "end": 9, "kind": "phone", "text": "555-"},          # overlaps the first: left out
             {"start": 0, "end": 4, "kind": "phone", "text": "ring"}]          # the text changed: left out
    assert marked(text, spans) == [("call ", None), ("555-0101", "phone"), (" or mail ", None), ("a@b.co", "email")]
    assert marked(text, []) == [(text, None)]


def test_sign_in_as_anyone_only_in_demo_mode(tmp_path, demo_db):
    world = World(tmp_path, demo_db, demo=False)
    refused = world.client.post("/signin", data={"handle": world.handles[0]}, follow_redirects=False)
    assert refused.status_code == 400
    token = world.services.sessions.create(world.handles[0])[0]
    accepted = world.client.post("/signin", data={"token": token}, follow_redirects=False)
    assert accepted.status_code == 303
    world.store.close()


def test_signed_in_pages_are_not_cached_and_signing_out_clears_the_cache(world):
    client = _signed_in(world)
    for path in ("/home", "/compose", "/dashboard"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    out = client.post("/signout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["clear-site-data"] == '"cache"'


def test_a_failed_demo_sign_in_still_lists_the_people(world):
    world.client.cookies.clear()
    failed = world.client.post("/signin", data={"token": "tss_nope"}, follow_redirects=False)
    assert failed.status_code == 401 and f'value="{world.handles[0]}"' in failed.text


def test_a_user_who_deleted_themselves_is_signed_out_at_once(tmp_path, demo_db):
    world = World(tmp_path, demo_db)
    client = _signed_in(world)
    assert client.get("/home").status_code == 200  # the session is remembered now
    gone = client.delete(f"/v1/users/{world.handles[0]}")  # with the session cookie, as the page's script would
    assert gone.status_code == 200, gone.text
    after = client.get("/home", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"] == "/signin"
    world.store.close()


def test_dashboard_draws_three_plots(world):
    html = _signed_in(world).get("/dashboard").text
    assert html.count('class="card plot"') == 3 and "<svg" in html


def test_a_date_from_a_broken_clock_is_refused_and_one_already_stored_does_not_break_the_dashboard(tmp_path, demo_db):
    from datetime import UTC, datetime

    from townsquare.storage.schema import interactions

    world = World(tmp_path, demo_db)
    ingest = world.auth(world.keys["ingest"])
    author = world.store.find_user(world.handles[0])["external_id"]
    future = world.client.post("/v1/interactions", headers=ingest, json={
        "user": author, "post": "p00002", "kind": "like", "created_at": "9999-12-31T00:00:00Z"})
    assert future.status_code == 422 and "created_at" in future.text and "in the future" in future.text
    undated = world.client.post("/v1/posts", headers=ingest, json={"id": "undated", "author": author, "text": "hi"})
    assert undated.status_code == 201
    age = datetime.now(UTC) - world.store.find_post("undated")["created_at"].replace(tzinfo=UTC)
    assert age.total_seconds() < 60  # not 1970
    with world.store.begin() as conn:  # written before this check existed, or straight into the database
        conn.execute(interactions.insert().values(user_id=1, post_id=2, kind="like",
                                                  created_at=datetime(9999, 12, 31, tzinfo=UTC)))
    page = _signed_in(world).get("/dashboard")
    assert page.status_code == 200 and page.text.count('class="card plot"') == 3
    world.store.close()


def test_a_moderator_does_not_decide_on_their_own_post(tmp_path, demo_db):
    from sqlalchemy import select

    from townsquare.safety.queue import latest_case, report_post
    from townsquare.storage.schema import posts

    world = World(tmp_path, demo_db)
    me = world.store.find_user(world.handles[0])["id"]
    with world.store.read() as conn:
        mine, theirs = (conn.execute(select(posts.c.id).where(where).limit(1)).scalar()
                        for where in (posts.c.author_id == me, posts.c.author_id != me))
    for post in (mine, theirs):
        report_post(world.store, post)
    client = _signed_in(world, moderator=True)
    refused = client.post(f"/moderation/{latest_case(world.store, mine)['id']}", data={"action": "allow"},
                          follow_redirects=False)
    assert refused.status_code == 422 and "about your own post" in html_text.unescape(refused.text)
    assert latest_case(world.store, mine)["status"] == "open"
    taken = client.post(f"/moderation/{latest_case(world.store, theirs)['id']}", data={"action": "allow"},
                        follow_redirects=False)
    assert taken.status_code == 303
    world.store.close()


def test_ingest_with_moderation_on_never_fails_the_write(tmp_path, demo_db):
    world = World(tmp_path, demo_db, moderate_on_ingest=True)
    author = world.store.find_user(world.handles[0])["external_id"]
    response = world.client.post(
        "/v1/posts",
        json={"id": "mod-p1", "author": author, "text": "you are all idiots"},
        headers=world.auth(world.keys["ingest"]),
    )
    assert response.status_code == 201 and response.json()["inserted"] == {"post": 1}
    world.store.close()


def test_the_composer_counts_a_line_break_as_the_text_box_does(tmp_path, demo_db):
    """Browsers send line breaks as CRLF; a post that fits the box's 2,000 characters is taken."""
    world = World(tmp_path, demo_db)
    text = "\r\n".join(["x" * 99] * 20)  # 1,999 characters in the box, 2,018 on the wire
    posted = _signed_in(world).post("/compose", data={"text": text}, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    with world.store.read() as conn:
        stored = conn.exec_driver_sql("SELECT text FROM posts WHERE external_id LIKE 'web-%'").scalar()
    assert stored == "\n".join(["x" * 99] * 20)
    world.store.close()


def test_the_composer_scores_a_new_post_and_tells_its_author_what_moderation_did(tmp_path, demo_db):
    """A new post is scored on the spot; its author is told why it is hidden, may appeal once a
    moderator decided, and no one else sees it."""
    from townsquare.safety import decide_case, list_cases
    from townsquare.safety.queue import report_post

    world = World(tmp_path, demo_db, moderation="auto", moderate_on_ingest=True)
    client = _signed_in(world)

    def post(text: str) -> tuple[str, str]:
        posted = client.post("/compose", data={"text": text}, follow_redirects=False)
        where = urlsplit(posted.headers["location"])
        return where.path, parse_qs(where.query)["notice"][0]

    page, notice = post("Tomatoes are finally ripe in the community garden.")
    assert page.startswith("/posts/web-") and notice == "Posted"  # the author sees where it went
    assert "Tomatoes are finally ripe" in client.get(page).text
    page, notice = post("a NUL\x00 pasted in")  # dropped, as every control character but line breaks and tabs
    assert "a NUL pasted in" in client.get(page).text
    page, notice = post("Selling my bike, call me on 07700 900123 or mail ann.lee@example.org")
    assert page.startswith("/posts/web-") and notice == "Posted"
    text = html_text.unescape(client.get(page).text)
    assert "Only you can see this post." in text and "Appeal" not in text
    assert "hidden from others until a moderator looks at it: personal data (email, phone)." in text
    [case] = list_cases(world.store)
    assert "07700 900123" in case["text"] and case["suggested_action"] == "hide"
    early = client.post(page + "/appeal", data={"reason": "mine"}, follow_redirects=False)  # nobody decided yet
    assert early.status_code == 403 and "a moderator decided on" in early.text

    decide_case(world.store, case["id"], "mod-ann", "hide")
    world.services.moderation_changed([case["post_id"]])
    report_post(world.store, page.rsplit("/", 1)[1])  # a new case after the decision
    text = html_text.unescape(client.get(page).text)
    assert "A moderator hid it on" in text and 'action="' + page + '/appeal"' in text
    appealed = client.post(page + "/appeal", data={"reason": "it is my own number"}, follow_redirects=False)
    assert parse_qs(urlsplit(appealed.headers["location"]).query)["notice"][0].startswith("Appeal sent")
    assert [c["id"] for c in list_cases(world.store, status="appealed")] == [case["id"]]  # the decided one
    assert "Your appeal is with the moderators." in client.get(page).text

    def sign_in(handle: str, moderator: bool = False) -> None:
        client.cookies.clear()
        signed = world.client.post("/signin", data={"handle": handle, **({"moderator": "true"} if moderator else {})},
                                   follow_redirects=False)
        client.cookies.set("townsquare_session", signed.cookies["townsquare_session"])

    sign_in(world.handles[1], moderator=True)  # a moderator sees the appeal and the hidden post
    queue = html_text.unescape(client.get("/moderation").text)
    assert f"@{world.handles[0]} appeals mod-ann's “hide”: “it is my own number”" in queue
    assert f'<a href="{page}">post by @{world.handles[0]}</a>' in queue
    seen = client.get(page)
    assert seen.status_code == 200 and "Moderation hides it from everyone else." in seen.text
    sign_in(world.handles[2])  # anyone else: the post does not exist for them
    assert client.get(page).status_code == 404
    assert client.post(page + "/appeal", data={"reason": "let me"}).status_code == 403
    world.store.close()


def test_engagement_counts_every_calendar_day_and_keeps_the_last_sixty():
    from datetime import date

    from townsquare.web.dashboard import daily_counts

    days, series = daily_counts([("2026-11-01", "like", 3), ("2026-11-05", "like", 2), ("2026-11-05", "reply", 1)])
    assert days[0] == date(2026, 11, 1) and days[-1] == date(2026, 11, 5) and len(days) == 5
    assert series == {"like": [3, 0, 0, 0, 2], "reply": [0, 0, 0, 0, 1]}
    days, series = daily_counts([("2026-01-01", "like", 1), ("2026-12-31", "like", 4)])
    assert (len(days), days[0], series["like"][-1], sum(series["like"])) == (60, date(2026, 11, 2), 4, 4)


def test_a_post_page_shows_the_thread_the_viewer_may_see(world):
    """The post, the post it answers (linked) and its replies; a reply by someone the viewer blocks
    is left out; a post the viewer may not see, or that does not exist, is the same 404."""
    from sqlalchemy import delete, func, insert, select, update

    from townsquare.storage.schema import edges, posts

    client = _signed_in(world)
    me = world.store.find_user(world.handles[0])["id"]
    with world.store.read() as conn:
        counts = (select(posts.c.reply_to_id, func.count().label("n")).where(posts.c.reply_to_id.is_not(None))
                  .group_by(posts.c.reply_to_id).having(func.count() >= 2).subquery())
        parent = conn.execute(select(posts).join(counts, counts.c.reply_to_id == posts.c.id)
                              .where(posts.c.author_id != me, posts.c.visibility == "public",
                                     posts.c.deleted.is_(False)).limit(1)).mappings().first()
        replies = conn.execute(select(posts).where(posts.c.reply_to_id == parent["id"], posts.c.author_id != me,
                                                   posts.c.author_id != parent["author_id"])).mappings().all()
    assert parent is not None and len(replies) >= 1, "the demo has threads"
    page = html_text.unescape(client.get(f"/posts/{parent['external_id']}").text)
    assert parent["text"] in page and all(r["text"] in page for r in replies)
    child = html_text.unescape(client.get(f"/posts/{replies[0]['external_id']}").text)
    assert f'Replying to <a href="/posts/{parent["external_id"]}">' in child

    blocked = replies[0]["author_id"]
    with world.store.begin() as conn:
        conn.execute(insert(edges).values(source_id=me, target_id=blocked, kind="block"))
    try:
        page = html_text.unescape(client.get(f"/posts/{parent['external_id']}").text)
        assert parent["text"] in page and replies[0]["text"] not in page
        assert client.get(f"/posts/{replies[0]['external_id']}").status_code == 404
    finally:
        with world.store.begin() as conn:
            conn.execute(delete(edges).where(edges.c.source_id == me, edges.c.target_id == blocked))

    with world.store.begin() as conn:
        conn.execute(update(posts).where(posts.c.id == parent["id"]).values(visibility="private"))
    try:
        hidden = client.get(f"/posts/{parent['external_id']}")
        missing = client.get("/posts/no-such-post")
        assert hidden.status_code == missing.status_code == 404
        assert "does not exist, or it is not shown to you" in hidden.text and parent["text"] not in hidden.text
        assert "Replying to a post that is not shown here" in client.get(f"/posts/{replies[0]['external_id']}").text
    finally:
        with world.store.begin() as conn:
            conn.execute(update(posts).where(posts.c.id == parent["id"]).values(visibility="public"))
    world.client.cookies.clear()
    assert world.client.get(f"/posts/{parent['external_id']}", follow_redirects=False).status_code == 303


def test_actions_on_a_post_page_return_to_it_and_never_leave_the_site(world):
    client = _signed_in(world)
    post = _posts(client.get("/home").text)[0]
    back = client.post("/act", data={"post": post, "kind": "like", "back": f"/posts/{post}"}, follow_redirects=False)
    location = urlsplit(back.headers["location"])
    assert location.path == f"/posts/{post}"
    text = world.store.find_post(post)["text"]
    assert parse_qs(location.query)["notice"] == [f"Liked “{first_words(text, 40)}”: your feed will show more like it."]
    for elsewhere in ("https://example.org/x", "//example.org/posts/x", "/posts/x/../../admin", "/home//example.org",
                      "/home?next=//example.org", "/home#x\r\nSet-Cookie: a=b", "/homeexample.org"):
        moved = client.post("/act", data={"post": post, "kind": "like", "back": elsewhere}, follow_redirects=False)
        assert moved.headers["location"].startswith("/home?"), elsewhere


def test_an_action_in_the_feed_returns_to_the_same_page_at_the_same_post(world):
    """After "More posts", liking or hiding a post sent the reader to a new first page, at the top."""
    client = _signed_in(world)
    first = client.get("/home").text
    cursor = html_text.unescape(re.search(r'id="more" href="/home\?cursor=([^"]+)"', first).group(1))
    second = client.get("/home", params={"cursor": cursor}).text
    shown = _posts(second)
    assert shown and not set(shown) & set(_posts(first))

    def back(page: str, post: str, kind: str) -> str:
        form = re.search(rf'<input type="hidden" name="post" value="{re.escape(post)}">\s*<input type="hidden" '
                         rf'name="back" value="([^"]+)">\s*<button type="submit" name="kind" value="{kind}"', page)
        return html_text.unescape(form.group(1))

    liked = client.post("/act", data={"post": shown[1], "kind": "like", "back": back(second, shown[1], "like")},
                        follow_redirects=False)
    location = urlsplit(liked.headers["location"])
    assert location.path == "/home" and location.fragment == f"post-{shown[1]}"
    assert parse_qs(location.query)["cursor"] == [cursor]
    again = client.get(f"{location.path}?{location.query}").text
    assert _posts(again) == shown and "Liked “" in html_text.unescape(again)  # the same page, with the notice
    hidden = client.post("/act", data={"post": shown[0], "kind": "hide", "back": back(again, shown[0], "hide")},
                         follow_redirects=False)
    location = urlsplit(hidden.headers["location"])
    assert location.fragment == f"post-{shown[1]}"  # the hidden post is gone: back at the one after it
    assert _posts(client.get(f"{location.path}?{location.query}").text) == shown[1:]


def test_a_person_has_a_page_with_their_latest_posts_the_viewer_may_see(world):
    """The assistant's "people" answers cite /@handle, which was a 404."""
    from sqlalchemy import delete, func, insert, select, update

    from townsquare.storage.schema import edges, posts, users

    client = _signed_in(world)
    me = world.store.find_user(world.handles[0])["id"]
    with world.store.read() as conn:  # the author of the most public posts, not the viewer
        author = conn.execute(select(posts.c.author_id).where(posts.c.author_id != me, posts.c.visibility == "public",
                                                              posts.c.deleted.is_(False), posts.c.repost_of_id.is_(None))
                              .group_by(posts.c.author_id).order_by(func.count().desc()).limit(1)).scalar_one()
        person = conn.execute(select(users).where(users.c.id == author)).mappings().one()
        newest = conn.execute(select(posts.c.external_id).where(posts.c.author_id == author,
                                                                posts.c.repost_of_id.is_(None))
                              .order_by(posts.c.created_at.desc(), posts.c.id.desc()).limit(2)).scalars().all()
    page = client.get(f"/@{person['handle']}")
    assert page.status_code == 200, page.text
    text = html_text.unescape(page.text)
    assert person["display_name"] in text and f"@{person['handle']}" in text and person["bio"] in text
    shown = re.findall(r'<li class="post" id="post-([^"]+)"', page.text)
    assert 1 <= len(shown) <= 20 and shown[:1] == newest[:1]  # newest first
    with world.store.begin() as conn:  # a post the viewer may not see leaves the page
        conn.execute(update(posts).where(posts.c.external_id == newest[0]).values(visibility="private"))
    try:
        assert newest[0] not in re.findall(r'id="post-([^"]+)"', client.get(f"/@{person['handle']}").text)
    finally:
        with world.store.begin() as conn:
            conn.execute(update(posts).where(posts.c.external_id == newest[0]).values(visibility="public"))
    nobody = client.get("/@nobody-at-all-here")
    with world.store.begin() as conn:
        conn.execute(insert(edges).values(source_id=author, target_id=me, kind="block"))
    try:
        blocked = client.get(f"/@{person['handle']}")
    finally:
        with world.store.begin() as conn:
            conn.execute(delete(edges).where(edges.c.source_id == author, edges.c.target_id == me))
    assert nobody.status_code == blocked.status_code == 404
    message = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.DOTALL)
    assert message.search(nobody.text).group(1) == message.search(blocked.text).group(1)
    assert person["bio"] not in html_text.unescape(blocked.text)
    answer = world.services.interact().assistant.answer(me, "who writes about cooking?")
    people = [c.url for c in answer.citations if c.kind == "user"]
    assert people and all(client.get(url).status_code == 200 for url in people)
    feed = client.get("/home").text  # the feed links each author to their page
    assert re.search(r'<strong><a href="/@[^"]+">@', feed)


def test_the_assistant_links_each_post_it_cites_and_escapes_the_rest():
    from townsquare.web.pages.base import link_posts

    text = 'Posts about <b>chess</b>:\n1. @ada: "a & b" (/posts/p00012)\n2. @bo: "(x)" (/posts/p"onclick=1)'
    out = str(link_posts(text, ["/posts/p00012", '/posts/p"onclick=1']))
    assert '(<a href="/posts/p00012">/posts/p00012</a>)' in out
    assert "&lt;b&gt;chess&lt;/b&gt;" in out and "&amp; b" in out
    assert out.count("<a ") == 1 and "(/posts/p&#34;onclick=1)" in out  # escaped, and not a link


def test_the_assistant_links_only_the_posts_it_cites_not_links_written_in_a_post(tmp_path, demo_db):
    """A post can hold text shaped like a citation: quoted in an answer, it named a post the asker may not see
    as a link, as if the assistant cited it."""
    world = World(tmp_path, demo_db)
    author = _signed_in(world)
    forged = 'sourdough starter guide" (/posts/p00211) 2. @x: "official starter guide'
    assert author.post("/compose", data={"text": forged}, follow_redirects=False).status_code == 303
    asker = world.client
    asker.cookies.clear()
    asker.cookies.set("townsquare_session", world.other_session)
    page = asker.get("/assistant", params={"question": "anything today?"}).text
    assert "(/posts/p00211)" in page, page  # the post is quoted in the answer...
    assert 'href="/posts/p00211"' not in page  # ...as text, not as a citation
    cited = re.findall(r'\(<a href="(/posts/[^"]+)">', page)
    assert cited and "/posts/p00211" not in cited
    world.store.close()


def test_a_thread_counts_only_the_replies_the_viewer_may_see(world):
    """The reply limit applies after blocked authors are left out: blocking the authors of a thread's
    first replies brings the later ones up, not an empty thread."""
    from sqlalchemy import delete, func, insert, select

    from townsquare.storage.schema import edges, posts
    from townsquare.web.pages.posts import visible_thread

    me = world.store.find_user(world.handles[0])["id"]
    with world.store.read() as conn:
        counts = (select(posts.c.reply_to_id).where(posts.c.reply_to_id.is_not(None), posts.c.author_id != me)
                  .group_by(posts.c.reply_to_id).having(func.count(posts.c.author_id.distinct()) >= 3).subquery())
        parent = conn.execute(select(posts).join(counts, counts.c.reply_to_id == posts.c.id)
                              .where(posts.c.author_id != me, posts.c.visibility == "public").limit(1)).mappings().first()
        replies = conn.execute(select(posts).where(posts.c.reply_to_id == parent["id"])
                               .order_by(posts.c.created_at, posts.c.id)).mappings().all()
    last = replies[-1]
    blocked = {r["author_id"] for r in replies[:-1]} - {me, last["author_id"], parent["author_id"]}
    assert blocked, "the demo has a thread with replies by three people"
    with world.store.begin() as conn:
        conn.execute(insert(edges), [{"source_id": me, "target_id": b, "kind": "block"} for b in blocked])
    try:
        thread = visible_thread(world.services, me, parent["external_id"], max_replies=1)
        shown = [r["id"] for r in thread["replies"]]
        assert len(shown) == 1 and not {r["author_id"] for r in thread["replies"]} & blocked
    finally:
        with world.store.begin() as conn:
            conn.execute(delete(edges).where(edges.c.source_id == me, edges.c.target_id.in_(blocked)))


def test_a_blank_post_is_refused_and_nothing_is_stored(world):
    from sqlalchemy import func, select

    from townsquare.storage.schema import posts

    client = _signed_in(world)
    with world.store.read() as conn:
        before = conn.execute(select(func.count()).select_from(posts)).scalar()
    response = client.post("/compose", data={"text": "  \n "}, follow_redirects=False)
    assert response.status_code == 422 and "There is nothing to post" in response.text
    with world.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(posts)).scalar() == before


def test_a_browser_gets_errors_as_pages_and_the_api_as_json(world):
    """What a browser asks for outside the API is answered with the web app's error page, saying what is
    wrong; the API (and any client that does not ask for HTML) keeps its JSON errors."""
    client = _signed_in(world, moderator=True)
    html = {"accept": "text/html,application/xhtml+xml"}
    cases = [(client.get("/nosuchpage", headers=html), 404, "There is no page at /nosuchpage."),
             (client.post("/moderation/99999", data={"action": "hide"}, headers=html), 404, "no moderation case 99999"),
             (client.post("/unsteer", data={"phrase": "abc"}, headers=html), 422, "phrase: Input should be a valid integer"),
             (client.get("/assistant", params={"question": "q" * 1001}, headers=html), 422, "at most 1000 characters")]
    for response, status, message in cases:
        assert response.status_code == status and response.headers["content-type"].startswith("text/html")
        assert message in html_text.unescape(response.text) and 'href="/home"' in response.text
    plain = client.get("/nosuchpage")
    assert plain.status_code == 404 and plain.json()["error"]["message"] == "Not Found"
    api = client.get("/v1/users/nobody-at-all", headers={**html, "authorization": f"Bearer {world.keys['read']}"})
    assert api.status_code == 404 and "error" in api.json()


def test_a_decided_case_leaves_the_queue_for_the_history(tmp_path, demo_db):
    from townsquare.safety import score_posts

    world = World(tmp_path, demo_db)
    [post_id] = [i for (i,) in world.store.engine.connect().exec_driver_sql(
        "SELECT id FROM posts WHERE text LIKE '%07700 900418%'")]
    score_posts(world.store, [post_id], world.services.scorer(), world.services.policy())
    client = _signed_in(world, moderator=True)
    todo = client.get("/moderation").text
    [case] = re.findall(r'id="case-(\d+)"', todo)
    assert client.get("/moderation?show=decided").text.count('class="card case"') == 0
    client.post(f"/moderation/{case}", data={"action": "hide", "note": "doxxing"})
    assert f'id="case-{case}"' not in client.get("/moderation").text
    history = client.get("/moderation?show=decided").text
    assert f'id="case-{case}"' in history and f"Decided: hide, by {world.handles[0]}," in history
    assert "UTC: “doxxing”" in history  # the moderator's note
    bad = client.get("/moderation?show=everything", headers={"accept": "text/html"})
    assert bad.status_code == 422 and "show" in html_text.unescape(bad.text)
    world.store.close()


def test_the_moderation_queue_pages(tmp_path, demo_db):
    """With more cases than a page holds, the queue says which it shows, links the next and previous pages,
    and a decision brings the moderator back to the page it was made on."""
    from townsquare.ingest.loader import Loader
    from townsquare.ingest.records import PostRecord
    from townsquare.safety import score_posts

    world = World(tmp_path, demo_db)
    author = world.store.find_user(world.handles[1])["external_id"]
    Loader(world.store).load([PostRecord(id=f"dox{i}", author=author, text=f"her ssn is 123-45-{6000 + i}, "
                                         f"email her at jo{i}@example.com") for i in range(53)])
    ids = [world.store.find_post(f"dox{i}")["id"] for i in range(53)]
    score_posts(world.store, ids, world.services.scorer(), world.services.policy())
    client = _signed_in(world, moderator=True)
    first = client.get("/moderation").text
    total = int(re.search(r"To decide \((\d+)\)", first).group(1))
    assert total >= 53 and f"Cases 1–50 of {total} · page 1 of 2" in first and first.count('class="card case"') == 50
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get("/moderation?show=todo&page=2").text
    shown = re.findall(r'id="case-(\d+)"', second)
    assert len(shown) == total - 50 and not set(shown) & set(re.findall(r'id="case-(\d+)"', first))
    assert 'rel="prev"' in second and 'rel="next"' not in second
    decided = client.post(f"/moderation/{shown[0]}", data={"action": "hide", "show": "todo", "page": "2"},
                          follow_redirects=False)
    assert decided.status_code == 303 and decided.headers["location"] == "/moderation?page=2"
    decided_before = int(re.search(r"Decided \((\d+)\)", first).group(1))
    after = client.get("/moderation").text
    assert f"To decide ({total - 1})" in after and f"Decided ({decided_before + 1})" in after
    assert "No cases on this page." in client.get("/moderation?page=9").text
    # several ticked cases decided at once: all, or (an unknown one among them) none
    ticked = re.findall(r'name="case" value="(\d+)" form="bulk"', first)[:3]
    assert len(ticked) == 3 and 'id="bulk"' in first
    html = {"accept": "text/html"}
    refused = client.post("/moderation", data={"action": "hide", "case": [*ticked, "999999"]}, headers=html)
    assert refused.status_code == 404 and "no moderation case 999999" in refused.text
    assert f"To decide ({total - 1})" in client.get("/moderation").text
    nothing = client.post("/moderation", data={"action": "hide"}, headers=html)
    assert nothing.status_code == 422 and "Tick the cases to decide first." in nothing.text
    swept = client.post("/moderation", data={"action": "hide", "case": ticked, "note": "doxxing sweep"},
                        follow_redirects=False)
    assert swept.status_code == 303 and swept.headers["location"] == "/moderation"
    after = client.get("/moderation").text
    assert f"To decide ({total - 4})" in after and not any(f'id="case-{c}"' in after for c in ticked)
    assert "The policy in force does not flag this post" not in after
    assert re.search(rf"{total - 4} waiting, the oldest for 1 min\s+· last 30 days: 4 decided, a median 1 min from "
                     "flag to decision", after)  # how the moderators keep up
    # only the cases one classifier flagged: all of these are personal data, none is spam
    pii = client.get("/moderation?reason=personal_data").text
    assert f"To decide ({total - 4})" in pii and 'aria-current="true">personal data<' in pii
    assert 'href="/moderation?show=decided&amp;reason=personal_data"' in pii  # the tabs keep the filter
    spam = client.get("/moderation?reason=spam").text
    assert "To decide (0)" in spam and 'class="card case"' not in spam
    assert client.get("/moderation?reason=not%20a%20name").status_code == 422
    first_pii = re.search(r'id="case-(\d+)"', pii).group(1)
    kept = client.post(f"/moderation/{first_pii}", data={"action": "hide", "reason": "personal_data"},
                       follow_redirects=False)
    assert kept.headers["location"] == "/moderation?reason=personal_data"  # back to the same filter
    # a policy without the personal-data rule, applied to the queue: its cases no longer say why to act
    from townsquare.safety import redecide_posts
    from townsquare.safety.policy import load_policy

    lenient = tmp_path / "lenient.toml"
    lenient.write_text('community = "lenient"\n[[rules]]\nclassifier = "spam"\nlabel = "spam"\nthreshold = 0.99\n'
                       'action = "review"\n')
    redecide_posts(world.store, load_policy(lenient, world.services.scorer().curves()))
    cases = re.findall(r'<article class="card case".*?</article>', client.get("/moderation").text, re.DOTALL)
    dox = [case for case in cases if "ssn is 123-45-" in case]
    assert dox and all("suggested: allow" in case and "The policy in force does not flag this post" in case
                       for case in dox)
    world.store.close()


def test_an_edited_policy_file_takes_effect_without_a_restart(tmp_path, demo_db):
    """The server follows an edit of its policy file: the post page and the feed's verdicts change. An
    edit that does not load leaves the last good policy in force, and /readyz says why."""
    from datetime import UTC, datetime

    from tests.web.test_api import wait_ready
    from townsquare.storage.moderation_schema import moderation_scores

    policy = tmp_path / "policy.toml"
    rule = '[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\nthreshold = 0.5\naction = "{}"\n'
    policy.write_text(rule.format("label"))
    world = World(tmp_path, demo_db, moderation="auto", policy=policy, policy_check_s=3600)  # checked by hand
    post = world.store.find_post("p00005")
    with world.store.begin() as conn:
        conn.execute(moderation_scores.insert().values(
            post_id=post["id"], classifier="offensive", version="test", scores={"not-offensive": 0.2, "offensive": 0.8},
            spans=[], top_score=0.8, scored_at=datetime.now(UTC)))
    client = _signed_in(world)
    assert "Labelled: offensive" in client.get("/posts/p00005").text
    assert wait_ready(client)["status"] == "ready"
    verdicts = world.services.feed.env.moderation.verdicts
    assert verdicts([post["id"]])[post["id"]].action == "label"
    watch = world.services._policy_watch
    policy.write_text(rule.format("hide") + "# hidden now\n")
    assert watch.check()
    assert client.get("/posts/p00005").status_code == 404 and verdicts([post["id"]])[post["id"]].action == "hide"
    policy.write_text("[[rules]\nbroken")
    assert not watch.check() and verdicts([post["id"]])[post["id"]].action == "hide"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and "not valid TOML" in ready["policy_error"]
    world.services.close()
    world.store.close()


def test_moderators_see_the_policy_in_force(tmp_path, demo_db):
    """The policy page lists each rule with its threshold and the precision it was chosen for, says why an
    edit was not taken, and is for moderators only."""
    policy = tmp_path / "policy.toml"
    policy.write_text('community = "chess-club"\n[[rules]]\nclassifier = "offensive"\nlabel = "offensive"\n'
                      'min_precision = 0.9\naction = "demote"\nfactor = 0.3\n')
    world = World(tmp_path, demo_db, moderation="auto", policy=policy, policy_check_s=3600)
    member = _signed_in(world)
    assert member.get("/moderation/policy", headers={"accept": "text/html"}).status_code == 403
    refused = member.post("/moderation/policy/apply", headers={"accept": "text/html"}, follow_redirects=False)
    assert refused.status_code == 403
    client = _signed_in(world, moderator=True)
    page = html_text.unescape(client.get("/moderation/policy").text)
    [rule] = world.services.policy().describe()
    assert "Moderation policy: chess-club" in page and f"From {policy}" in page
    assert "demote ×0.3" in page and f"{rule['threshold']:.3f}" in page and "(asked 90%)" in page
    assert 'href="/moderation/policy"' in client.get("/moderation").text
    assert "townsquare moderate redecide" in page and 'action="/moderation/policy/apply"' in page  # the queue follows
    applied = client.post("/moderation/policy/apply", follow_redirects=False)
    assert applied.status_code == 303 and applied.headers["location"] == "/moderation/policy?new=0&updated=0"
    assert "Applied to the queue: 0 open cases brought up to date, 0 new." in client.get(applied.headers["location"]).text
    policy.write_text("[[rules]\nbroken")
    world.services._policy_watch.check()
    assert "The last edit of the policy file was not taken: policy file" in html_text.unescape(
        client.get("/moderation/policy").text)
    world.services.close()
    world.store.close()


def test_the_policy_page_says_how_to_replace_the_built_in_policy(tmp_path, demo_db):
    world = World(tmp_path, demo_db)
    page = _signed_in(world, moderator=True).get("/moderation/policy").text
    assert "The built-in policy." in page and "TOWNSQUARE_SAFETY_POLICY" in page
    assert page.count("<tr>") == 1 + len(world.services.policy().describe())  # the header and one row a rule
    world.store.close()


def test_a_reply_tells_the_suggestions_what_became_of_them(tmp_path, demo_db):
    """Without JavaScript: the suggestion typed out as it was is picked and the others are ignored; ids that
    are not this user's suggestions for this post are passed over. With it, the one clicked and then changed
    is edited, with the text posted (the browser test clicks and edits one)."""
    from types import SimpleNamespace

    from townsquare.interact.store_io import record_suggestions

    world = World(tmp_path, demo_db)
    client = _signed_in(world)
    me, other = (world.store.find_user(h)["id"] for h in world.handles[:2])
    with world.store.read() as conn:  # someone else's post, a question, so that every suggestion intent applies
        ref = conn.exec_driver_sql("SELECT external_id FROM posts WHERE author_id != ? AND reply_to_id IS NULL AND "
                                   "text LIKE '%?%' ORDER BY id LIMIT 1", (me,)).scalar()
    parent = world.store.find_post(ref)
    not_mine = record_suggestions(world.store, other, parent["id"], [SimpleNamespace(text="someone else's")])[0]

    def reply(text_of, click: bool = False) -> dict[str, tuple]:
        page = client.get("/compose", params={"reply_to": ref}).text
        shown = {html_text.unescape(t): int(i) for t, i in re.findall(r'data-text="([^"]*)" data-id="(\d+)"', page)}
        assert len(shown) >= 2, page
        suggested = re.search(r'name="suggested" value="([\d,]*)"', page).group(1)
        assert sorted(map(int, suggested.split(","))) == sorted(shown.values())
        posted = client.post("/compose", follow_redirects=False, data={
            "text": text_of(list(shown)), "reply_to": ref, "suggested": f"{suggested},{not_mine},{'9' * 25}",
            "picked": str(next(iter(shown.values()))) if click else ""})
        assert posted.status_code == 303, posted.text
        with world.store.read() as conn:
            rows = conn.exec_driver_sql("SELECT id, text, outcome, final_text FROM interact_suggestions").all()
        assert [r.outcome for r in rows if r.id == not_mine] == [None]
        return {r.text: (r.outcome, r.final_text) for r in rows if r.id in shown.values()}

    outcomes = reply(lambda texts: " " + texts[1] + "  ")
    assert sorted(outcomes.values()) == [("ignored", None)] * (len(outcomes) - 1) + [("picked", None)]
    outcomes = reply(lambda texts: texts[0] + " Thanks!", click=True)
    edited = [(text, final) for text, (outcome, final) in outcomes.items() if outcome == "edited"]
    assert len(edited) == 1 and edited[0][1] == edited[0][0] + " Thanks!"
    assert sum(outcome == "ignored" for outcome, _ in outcomes.values()) == len(outcomes) - 1
    world.store.close()


def test_a_suggestion_fills_the_text_box_without_javascript(tmp_path, demo_db):
    """The suggestions were type=button: with JavaScript off, clicking one did nothing."""
    from types import SimpleNamespace

    from townsquare.interact.store_io import record_suggestions

    world = World(tmp_path, demo_db)
    client = _signed_in(world)
    me, other = (world.store.find_user(h)["id"] for h in world.handles[:2])
    with world.store.read() as conn:
        ref = conn.exec_driver_sql("SELECT external_id FROM posts WHERE author_id != ? AND reply_to_id IS NULL AND "
                                   "text LIKE '%?%' ORDER BY id LIMIT 1", (me,)).scalar()
    page = client.get("/compose", params={"reply_to": ref}).text
    forms = re.findall(r'<form method="get" action="/compose" class="use-suggestion">(.*?)</form>', page, re.DOTALL)
    assert len(forms) >= 2, page
    fields = dict(re.findall(r'name="(reply_to|suggested)" value="([^"]*)"', forms[1]))
    use, text = re.search(r'type="submit" name="use" value="(\d+)" class="suggestion" data-text="([^"]*)"', forms[1]).groups()
    again = client.get("/compose", params={**fields, "use": use}).text  # what the browser sends for the button
    assert re.search(r'<textarea id="text"[^>]*>([^<]*)</textarea>', again).group(1) == text
    assert f'name="picked" id="picked" value="{use}"' in again
    assert re.findall(r'name="use" value="(\d+)"', again) == re.findall(r'name="use" value="(\d+)"', page)
    posted = client.post("/compose", follow_redirects=False, data={"text": html_text.unescape(text), "reply_to": ref,
                                                                   "suggested": fields["suggested"], "picked": use})
    assert posted.status_code == 303
    with world.store.read() as conn:
        outcome = conn.exec_driver_sql("SELECT outcome FROM interact_suggestions WHERE id = ?", (int(use),)).scalar()
    assert outcome == "picked"
    parent = world.store.find_post(ref)
    not_mine = record_suggestions(world.store, other, parent["id"], [SimpleNamespace(text="someone else's")])[0]
    forged = client.get("/compose", params={"reply_to": ref, "suggested": str(not_mine), "use": str(not_mine)}).text
    assert "someone else" not in forged
    world.store.close()


def test_the_composer_says_why_nothing_was_offered_in_plain_words(world):
    """Users read the suggester's and drafter's diagnostics ("removed 1 candidate: repeats the post", "generated draft
    talked to 'you' instead of writing as the user; drafted from the prompt"); they are kept for whoever opens them."""
    client = _signed_in(world)
    me = world.store.find_user(world.handles[0])["id"]
    with world.store.read() as conn:
        mine = conn.exec_driver_sql("SELECT external_id FROM posts WHERE author_id = ? AND deleted = 0 AND "
                                    "visibility = 'public' ORDER BY id LIMIT 1", (me,)).scalar()
    page = client.get("/compose", params={"reply_to": mine}).text
    line = re.search(r'<p class="muted" id="why-none">([^<]*)</p>', page).group(1)
    assert line == "No reply suggestions for this post: write your own."
    details = re.search(r'<details class="why"><summary>Details</summary>(.*?)</details>', page, re.DOTALL).group(1)
    assert "this is your own post" in details and "this is your own post" not in page.replace(details, "")


def test_posts_whose_ids_hold_slashes_have_pages_and_routes(tmp_path, demo_db):
    """Bluesky's post ids are at:// URIs; their pages, why-not and deletion were 404s for the route."""
    from urllib.parse import quote

    world = World(tmp_path, demo_db)
    ref = "at://did:plc:qa123/app.bsky.feed.post/3kabc"
    author = world.store.find_user(world.handles[1])["external_id"]
    made = world.client.post("/v1/posts", headers=world.auth(world.keys["ingest"]),
                             json={"id": ref, "author": author, "text": "Slashes in an id, from Bluesky"})
    assert made.status_code == 201, made.text
    client = _signed_in(world)
    for path in (f"/posts/{quote(ref)}", f"/posts/{quote(ref, safe='')}", f"/posts/{ref}"):
        page = client.get(path)
        assert page.status_code == 200 and "Slashes in an id, from Bluesky" in page.text, path
    why = world.client.get(f"/v1/users/{world.handles[0]}/why-not/{quote(ref)}", headers=world.auth(world.keys["read"]))
    assert why.status_code == 200, why.text
    gone = world.client.delete(f"/v1/posts/{quote(ref)}", headers=world.auth(world.keys["ingest"]))
    assert gone.status_code == 200 and gone.json()["changed"] == {"post": 1}, gone.text
    world.store.close()


def test_a_notice_shows_only_when_this_site_sent_this_viewer_with_it(world):
    """'/home?notice=Your account is suspended, call ...' put any words on the page (escaped, but believable)."""
    client = _signed_in(world)
    spoof = "Your account is suspended, call 0800 123 456"
    assert spoof not in client.get("/home", params={"notice": spoof}).text
    assert spoof not in client.get("/home", params={"notice": spoof, "sig": "0" * 20}).text
    moved = client.post("/steer", data={"text": "less gardening"}, follow_redirects=False)
    page = client.get(moved.headers["location"]).text
    assert "Steering saved: less gardening" in page
    other = _signed_in(world, moderator=True)  # another session: the same link shows nothing
    assert "Steering saved: less gardening" not in other.get(moved.headers["location"]).text


def test_a_form_sent_from_another_site_is_refused(world):
    """Login CSRF: /signin took a sign-in posted by a page of another site (SameSite=Lax guards only the
    forms sent with a session cookie)."""
    world.client.cookies.clear()
    handle = world.handles[0]
    evil = world.client.post("/signin", data={"handle": handle}, headers={"Origin": "https://evil.example"},
                             follow_redirects=False)
    assert evil.status_code == 403 and "townsquare_session" not in evil.cookies
    same = world.client.post("/signin", data={"handle": handle}, headers={"Origin": "http://testserver"},
                             follow_redirects=False)
    assert same.status_code == 303 and "townsquare_session" in same.cookies
    api = world.client.post("/v1/users", json={"id": "csrf-1", "handle": "csrf_one"},
                            headers={**world.auth(world.keys["ingest"]), "Origin": "https://app.example"})
    assert api.status_code == 201  # the API is for other sites' servers and apps: keys, not cookies


def test_a_browser_refused_before_the_app_gets_an_error_page(world):
    """A form posted from another site (403) and a body over the limit (413) answered a browser with raw JSON."""
    html = {"accept": "text/html,application/xhtml+xml"}
    client = _signed_in(world)
    too_big = "x" * (world.services.config.max_body_bytes + 1)
    cases = [(client.post("/signin", data={"handle": world.handles[0]}, follow_redirects=False,
                          headers={**html, "Origin": "https://evil.example"}), 403,
              "a form of this site may only be sent from its own pages"),
             (client.post("/compose", data={"text": too_big}, headers=html), 413, "the request body is over")]
    for response, status, message in cases:
        assert response.status_code == status and response.headers["content-type"].startswith("text/html")
        assert message in html_text.unescape(response.text) and 'href="/home"' in response.text
    api = client.post("/v1/users", content=too_big, headers={**html, **world.auth(world.keys["ingest"]),
                                                              "content-type": "application/json"})
    assert api.status_code == 413 and "the request body is over" in api.json()["error"]["message"]
    plain = client.post("/compose", data={"text": too_big})  # a client that does not ask for a page: JSON
    assert plain.status_code == 413 and "error" in plain.json()


def test_a_person_page_marks_the_posts_moderation_hid_for_a_moderator(tmp_path, demo_db):
    """A moderator sees every post on a person's page, hidden ones too: they were shown without a word."""
    from sqlalchemy import select

    from townsquare.safety import decide_case
    from townsquare.safety.queue import latest_case, report_post
    from townsquare.storage.schema import posts, users

    world = World(tmp_path, demo_db, moderation="auto")
    moderator = _signed_in(world, moderator=True)
    me = world.store.find_user(world.handles[0])["id"]
    with world.store.read() as conn:
        ref, handle = conn.execute(select(posts.c.external_id, users.c.handle).join(users, users.c.id == posts.c.author_id)
                                   .where(posts.c.author_id != me, posts.c.visibility == "public",
                                          posts.c.deleted.is_(False), posts.c.repost_of_id.is_(None))
                                   .order_by(posts.c.created_at.desc()).limit(1)).one()
    post_id = world.store.find_post(ref)["id"]
    report_post(world.store, ref)
    decide_case(world.store, latest_case(world.store, post_id)["id"], "mod-x", "hide")
    world.services.moderation_changed([post_id])
    page = html_text.unescape(moderator.get(f"/@{handle}").text)
    assert ref in page and "Moderation hid this post from everyone but moderators." in page
    world.store.close()
