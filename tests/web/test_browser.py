"""The web app in real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Signs in, scrolls the feed, opens an explanation, likes and hides a post and sees the feed change,
opens the composer, reports a post and moderates it. Saves a screenshot of each page to
``reports/screenshots/`` (or ``$TOWNSQUARE_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.web.conftest import World

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which(CHROMIUM) and shutil.which(DRIVER)),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
    ),
]
SHOTS = Path(
    os.environ.get("TOWNSQUARE_SCREENSHOTS", Path(__file__).resolve().parents[2] / "reports" / "screenshots")
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_db):
    import uvicorn

    world = World(tmp_path_factory.mktemp("browser"), demo_db)
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield world, f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)
    world.store.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def submit(driver, element) -> None:
    """Click a button or link that loads a new page, and wait until it has."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def left(_driver) -> bool:
        try:
            return expected_conditions.staleness_of(page)(_driver)
        except WebDriverException:  # Chromium may answer "node does not belong to the document" instead
            return True

    WebDriverWait(driver, 20).until(left)


def feed_posts(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [li.get_attribute("data-post") for li in driver.find_elements(By.CSS_SELECTOR, "li.post")]


def test_a_session_in_the_browser(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from townsquare.feed.training import train_ranker

    world, base = server
    handle = world.handles[0]
    browser.get(base + "/")
    assert "Sign in" in browser.find_element(By.TAG_NAME, "h1").text
    Select(browser.find_element(By.ID, "handle")).select_by_value(handle)
    browser.find_element(By.ID, "moderator").click()
    shot(browser, "01-signin")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#demo-signin button[type=submit]"))
    assert browser.current_url.endswith("/home")
    posts = feed_posts(browser)
    assert len(posts) >= 10
    shot(browser, "02-home")

    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    submit(browser, browser.find_element(By.ID, "more"))
    assert set(feed_posts(browser)).isdisjoint(posts[:5]), "the next page shows new posts"
    second = feed_posts(browser)
    target = browser.find_elements(By.CSS_SELECTOR, "li.post")[3]
    submit(browser, target.find_element(By.CSS_SELECTOR, "button.action-like"))  # back on this page, at this post
    assert "cursor=" in browser.current_url and browser.current_url.endswith(f"#post-{second[3]}")
    assert feed_posts(browser) == second and browser.execute_script("return window.scrollY") > 0
    browser.get(base + "/home")

    first = browser.find_elements(By.CSS_SELECTOR, "li.post")[0]
    first.find_element(By.TAG_NAME, "summary").click()
    why = first.find_element(By.CSS_SELECTOR, "details.why")
    assert why.get_attribute("open") is not None and why.find_element(By.TAG_NAME, "li").text
    shot(browser, "03-why")

    liked = first.find_element(By.CSS_SELECTOR, "p.text").text
    submit(browser, first.find_element(By.CSS_SELECTOR, "button.action-like"))
    assert browser.find_element(By.CSS_SELECTOR, ".notice").text.startswith(f"Liked “{liked[:20]}")
    hidden = feed_posts(browser)[0]
    submit(
        browser,
        browser.find_elements(By.CSS_SELECTOR, "li.post")[0].find_element(
            By.CSS_SELECTOR, "button.action-hide"
        ),
    )
    assert "Hidden" in browser.find_element(By.CSS_SELECTOR, ".notice").text
    assert hidden not in feed_posts(browser), "a hidden post leaves the feed at once"
    shot(browser, "04-after-hide")

    reported = feed_posts(browser)[0]
    submit(
        browser,
        browser.find_elements(By.CSS_SELECTOR, "li.post")[0].find_element(
            By.CSS_SELECTOR, "button.action-report"
        ),
    )
    assert reported not in feed_posts(browser)

    submit(browser, browser.find_elements(By.CSS_SELECTOR, "li.post")[0].find_element(By.LINK_TEXT, "Reply"))
    assert browser.find_element(By.CSS_SELECTOR, "blockquote.parent").text
    suggestions = browser.find_elements(By.CSS_SELECTOR, "button.suggestion")
    why_none = [e.text for e in browser.find_elements(By.ID, "why-none")]
    assert suggestions, f"reply suggestions are offered to {browser.current_url}: {why_none}"
    suggestions[0].click()
    clicked, shown = suggestions[0].text, len(suggestions)
    assert browser.find_element(By.ID, "text").get_attribute("value") == clicked
    browser.find_element(By.ID, "text").send_keys(" Thanks for sharing!")
    shot(browser, "05-compose")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[method=post][action='/compose'] button[type=submit]"))
    assert "Posted" in browser.find_element(By.CSS_SELECTOR, ".notice").text
    with world.store.read() as conn:  # the clicked suggestion was edited, the others ignored: training data
        outcomes = conn.exec_driver_sql("SELECT text, outcome, final_text FROM interact_suggestions "
                                        "WHERE outcome IS NOT NULL").all()
    assert sorted(o.outcome for o in outcomes) == ["edited"] + ["ignored"] * (shown - 1)
    assert [o.final_text for o in outcomes if o.outcome == "edited"] == [clicked + " Thanks for sharing!"]

    browser.get(base + "/home")  # posting lands on the new post's page; the steering box is on the feed
    browser.find_element(By.ID, "steer-text").send_keys("more sourdough")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/steer'] button"))
    assert "sourdough" in browser.find_element(By.CSS_SELECTOR, "ul.steering").text

    for post in ("p00005", "p00006"):  # two more cases, for deciding several at once
        world.client.post(f"/v1/users/{world.handles[0]}/feedback", json={"post": post, "kind": "report"},
                          headers=world.auth(world.user_session))
    browser.get(base + "/moderation")
    cases = browser.find_elements(By.CSS_SELECTOR, "article.case")
    assert any(world.store.find_post(reported)["text"][:30] in c.text for c in cases)
    shot(browser, "06-moderation")
    before = len(cases)
    submit(browser, cases[0].find_element(By.CSS_SELECTOR, "button.decide-hide"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "article.case")) == before - 1
    browser.find_element(By.CSS_SELECTOR, "button.tick-all").click()  # app.js ticks every case on the page
    ticks = browser.find_elements(By.CSS_SELECTOR, "input.tick")
    assert len(ticks) == before - 1 >= 2 and all(t.is_selected() for t in ticks)
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#bulk button[value=hide]"))
    assert browser.find_elements(By.CSS_SELECTOR, "article.case") == [] and browser.find_element(By.ID, "queue-empty")
    browser.find_element(By.CSS_SELECTOR, "a[href='/moderation/policy']").click()
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.apply-policy button"))  # the policy, to the queue
    assert browser.find_element(By.ID, "policy-applied").text.startswith("Applied to the queue: 0 open cases")
    shot(browser, "06b-policy")

    train_ranker(world.store, "test-hash")  # as `make demo` does: the dashboard shows its evaluation
    browser.get(base + "/dashboard")
    assert len(browser.find_elements(By.CSS_SELECTOR, "figure.plot")) == 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "figure.plot svg")) == 3
    shot(browser, "07-dashboard")

    browser.get(base + "/assistant?question=what+did+people+say+about+chess+this+week")
    answer = browser.find_element(By.CSS_SELECTOR, ".answer .text").text
    assert answer.startswith("Posts about chess from the past week:\n1. @") and "/posts/p" in answer  # cited
    shot(browser, "08-assistant")
    cited = browser.find_element(By.CSS_SELECTOR, ".answer .text a")  # each cited post links to its page
    cited_ref = cited.text.removeprefix("/posts/")
    submit(browser, cited)
    assert browser.current_url.endswith("/posts/" + cited_ref)
    assert browser.find_element(By.CSS_SELECTOR, ".main-post .text").text == world.store.find_post(cited_ref)["text"]
    shot(browser, "10-post")

    browser.set_window_size(390, 844)
    browser.get(base + "/home")
    shot(browser, "09-home-phone")


def test_pages_fit_the_window(server, browser):
    """A long steering phrase without spaces made /home 2,300 px wide; the policy's table made /moderation/policy
    scroll sideways on a phone."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    world, base = server
    browser.set_window_size(1280, 900)
    browser.get(base + "/signin")
    Select(browser.find_element(By.ID, "handle")).select_by_value(world.handles[1])
    browser.find_element(By.ID, "moderator").click()
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#demo-signin button[type=submit]"))
    browser.find_element(By.ID, "steer-text").send_keys("more " + "sourdoughstarter" * 25)
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/steer'] button"))
    assert "sourdoughstarter" in browser.find_element(By.CSS_SELECTOR, "ul.steering").text

    def wider() -> int:
        return browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")

    for width in (1280, 375):
        browser.set_window_size(width, 900)
        assert wider() <= 0, f"/home at {width} px"
    browser.get(base + "/moderation/policy")
    assert wider() <= 0, "/moderation/policy at 375 px"
    shot(browser, "11-policy-phone")
