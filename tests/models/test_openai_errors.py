"""The OpenAI backend retries what is worth retrying and explains every failure.

Bad answers come from a small real HTTP server on 127.0.0.1 that answers what each test tells
it to; "server down" is a port nobody listens on.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from townsquare.errors import BackendError, InputError
from townsquare.models.base import GenerationRequest, Message
from townsquare.models.openai_generator import OpenAIGenerator

OK = {"choices": [{"text": "hi", "finish_reason": "stop"}], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}
PROMPT = GenerationRequest(prompt="hello", max_tokens=4)


class ScriptedServer:
    """Answers each POST with the next (status, body, delay_s) of its script; repeats the last."""

    def __init__(self) -> None:
        self.script: list[tuple[int, str, float]] = []
        self.bodies: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status, body, delay = server.script[min(len(server.bodies), len(server.script)) - 1]
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    scripted = ScriptedServer()
    yield scripted
    scripted.http.shutdown()
    scripted.http.server_close()


def make(url: str, **options) -> tuple[OpenAIGenerator, list[float]]:
    sleeps: list[float] = []
    options = {"max_retries": 2, "timeout_s": 5.0, **options}
    return OpenAIGenerator(url, "m", sleep=sleeps.append, **options), sleeps


def test_server_down_is_retried_with_backoff_then_explained(unused_port):
    generator, sleeps = make(f"http://127.0.0.1:{unused_port}/v1")
    with pytest.raises(BackendError, match=r"cannot reach .*127\.0\.0\.1.*is it running.*3 tries"):
        generator.generate(PROMPT)
    assert sleeps == [0.5, 1.0]


def test_server_errors_are_retried_until_an_answer_comes(server):
    server.script = [(503, "busy", 0), (500, "oops", 0), (200, json.dumps(OK), 0)]
    generator, sleeps = make(server.url)
    assert generator.generate(PROMPT).text == "hi"
    assert len(server.bodies) == 3 and sleeps == [0.5, 1.0]


def test_bad_api_key_is_not_retried_and_says_which_setting(server):
    server.script = [(401, '{"error": "invalid key"}', 0)]
    generator, _ = make(server.url)
    with pytest.raises(BackendError, match="TOWNSQUARE_OPENAI_API_KEY.*invalid key"):
        generator.generate(PROMPT)
    assert len(server.bodies) == 1


def test_wrong_path_says_to_check_the_base_url(server):
    server.script = [(404, "no such route", 0)]
    with pytest.raises(BackendError, match="TOWNSQUARE_OPENAI_BASE_URL"):
        make(server.url)[0].generate(PROMPT)


@pytest.mark.parametrize(("body", "message"), [
    ("<html>proxy error</html>", "not JSON"),
    ('{"result": "hi"}', "not an OpenAI completion"),
    ('{"choices": []}', "not an OpenAI completion"),
])
def test_answers_that_are_not_completions_are_explained(server, body, message):
    server.script = [(200, body, 0)]
    with pytest.raises(BackendError, match=message):
        make(server.url)[0].generate(PROMPT)


def test_slow_server_times_out_with_the_setting_to_change(server):
    server.script = [(200, json.dumps(OK), 1.0)]
    generator, _ = make(server.url, timeout_s=0.2, max_retries=0)
    with pytest.raises(BackendError, match="did not answer within 0.2 s.*TOWNSQUARE_OPENAI_TIMEOUT_S"):
        generator.generate(PROMPT)


def test_personal_data_is_masked_before_it_is_sent(server):
    server.script = [(200, json.dumps(OK), 0)]
    generator, _ = make(server.url)
    generator.generate(GenerationRequest(prompt="Reply to bob@example.com at 555-123-4567"))
    generator.generate(GenerationRequest(messages=[Message(role="user", content="card 4111 1111 1111 1111")]))
    sent = json.dumps(server.bodies)
    assert "bob@example.com" not in sent and "555-123-4567" not in sent and "4111 1111" not in sent
    assert server.bodies[0]["prompt"] == "Reply to [EMAIL] at [PHONE]"
    assert server.bodies[1]["messages"][0]["content"] == "card [CARD]"


def test_json_schema_needs_messages_on_this_backend():
    generator, _ = make("http://127.0.0.1:9/v1")
    with pytest.raises(InputError, match="needs messages"):
        generator.generate(GenerationRequest(prompt="x", json_schema={"type": "object"}))


def test_a_hung_server_costs_one_timeout_then_is_not_asked_for_a_while(server):
    """timeout_s bounds the whole call, retries included (a hung server held requests for 2 minutes: 30 s a try,
    four tries); after it, calls fail at once until cooldown_s has passed, so no request waits on it again."""
    server.script = [(200, json.dumps(OK), 1.5)]
    generator, _ = make(server.url, timeout_s=0.3, max_retries=3, cooldown_s=60)
    with pytest.raises(BackendError, match="did not answer within 0.3 s.*gave up after 1 try"):
        generator.generate(PROMPT)
    with pytest.raises(BackendError, match="not asked again for another [56][0-9] s"):
        generator.generate(PROMPT)
    assert len(server.bodies) == 1
    generator.cooldown_s, generator._down_until = 0, 0.0  # the cool-down over: asked again
    with pytest.raises(BackendError, match="did not answer"):
        generator.generate(PROMPT)
    assert len(server.bodies) == 2


def test_a_server_that_answers_errors_is_not_cooled_down(server):
    """Only no answer at all (down, or hung) stops the asking: a 5xx answer is the server's, and retried per call."""
    server.script = [(503, "busy", 0)]
    generator, _ = make(server.url, max_retries=0)
    for _ in range(2):
        with pytest.raises(BackendError, match="HTTP 503"):
            generator.generate(PROMPT)
    assert len(server.bodies) == 2
