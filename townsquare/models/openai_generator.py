"""``OpenAIGenerator``: any OpenAI-compatible server (llama.cpp server, vLLM, Ollama, OpenAI...).

Uses httpx directly rather than the ``openai`` SDK: two endpoints and a server-sent-events
reader are all we need, and httpx is already a core dependency. Personal data is masked in
every prompt before it leaves the machine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from townsquare.errors import BackendError, InputError
from townsquare.models.base import GenerationRequest, GenerationResult, Generator
from townsquare.models.pii import mask_pii

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_START_HINT = "start one (python -m llama_cpp.server --model FILE.gguf --port 8080) or set TOWNSQUARE_OPENAI_BASE_URL"


class _Retryable(Exception):
    """A failure worth another try (connection, timeout, 5xx); ``unreachable``: no answer came at all."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class _Rejected(BackendError):
    """The server refused the request with a 4xx status."""

    def __init__(self, message: str, status: int, detail: str) -> None:
        super().__init__(message)
        self.status, self.detail = status, detail


class OpenAIGenerator(Generator):
    """Talks to ``{base_url}/completions`` (prompt) and ``{base_url}/chat/completions`` (messages)."""

    supports_json_schema = True

    def __init__(self, base_url: str, model: str, *, api_key: str = "", timeout_s: float = 30.0,
                 max_retries: int = 3, backoff_s: float = 0.5, mask_personal_data: bool = True,
                 client: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep,
                 cooldown_s: float = 30.0) -> None:
        """``timeout_s`` bounds a whole call, retries included; after a call that could not reach the server
        or timed out, calls fail at once for ``cooldown_s`` (a hung server held every request for two
        minutes before: 30 s a try, four tries)."""
        self.base_url, self.model_id = base_url.rstrip("/"), model
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.cooldown_s, self._down_until, self._down_why = cooldown_s, 0.0, ""
        self.mask_personal_data, self._sleep = mask_personal_data, sleep
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(timeout=timeout_s)
        self._headers = headers
        self._json_format = "json_schema"  # OpenAI's; falls back to json_object+schema (llama.cpp)

    def close(self) -> None:
        self._client.close()

    # -- request body -------------------------------------------------------------------------
    def payload(self, request: GenerationRequest, stream: bool) -> tuple[str, dict[str, Any]]:
        """The endpoint path and JSON body for ``request``, personal data already masked."""
        clean = mask_pii if self.mask_personal_data else (lambda text: text)
        body: dict[str, Any] = {"model": self.model_id, "max_tokens": request.max_tokens,
                                "temperature": request.temperature, "top_p": request.top_p, "stream": stream}
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = request.stop
        if request.messages is None:
            if request.json_schema is not None:
                raise InputError("JSON-constrained output through the openai backend needs messages, "
                                 "not a plain prompt", field="json_schema")
            body["prompt"] = clean(request.prompt or "")
            return "/completions", body
        body["messages"] = [{"role": m.role, "content": clean(m.content)} for m in request.messages]
        if request.json_schema is not None:
            body["response_format"] = _response_format(request.json_schema, self._json_format)
        return "/chat/completions", body

    # -- generation ---------------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> GenerationResult:
        path, body = self.payload(request, stream=False)
        answer = self._send(request, lambda timeout: self._post_json(path, body, timeout), stream=False)
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
            usage = answer.get("usage") or {}
            return GenerationResult(text=text or "", finish_reason=_finish(choice.get("finish_reason")),
                                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                                    completion_tokens=int(usage.get("completion_tokens", 0)),
                                    model=str(answer.get("model", self.model_id)))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BackendError(f"{self.base_url}{path} answered with something that is not an OpenAI "
                               f"completion ({exc!r}): {json.dumps(answer)[:300]}") from exc

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        path, body = self.payload(request, stream=True)
        events = self._send(request, lambda timeout: self._open_stream(path, body, timeout), stream=True)
        for event in events:
            try:
                choice = event["choices"][0]
                piece = (choice.get("delta") or {}).get("content") if "delta" in choice else choice.get("text")
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise BackendError(f"{self.base_url}{path} streamed something that is not an OpenAI "
                                   f"chunk: {json.dumps(event)[:300]}") from exc
            if piece:
                yield piece

    # -- transport ----------------------------------------------------------------------------
    def _send(self, request: GenerationRequest, call: Callable[[], Any], stream: bool) -> Any:
        """Retries; if the server rejects OpenAI's json_schema format, tries llama.cpp's once."""
        if (wait := self._down_until - time.monotonic()) > 0:
            raise BackendError(f"{self._down_why}; not asked again for another {wait:.0f} s")
        try:
            return self._with_retries(call)
        except _Rejected as exc:
            if request.json_schema is None or self._json_format != "json_schema" or \
                    "response_format" not in exc.detail:
                raise
            self._json_format = "json_object"
            path, body = self.payload(request, stream=stream)
            return self._with_retries(
                lambda timeout: (self._open_stream if stream else self._post_json)(path, body, timeout))

    def _with_retries(self, call: Callable[[float], Any]) -> Any:
        """``call(seconds left)``, again after a retryable failure while the call's ``timeout_s`` lasts."""
        deadline = time.monotonic() + self.timeout_s
        for attempt in range(self.max_retries + 1):
            try:
                return call(max(deadline - time.monotonic(), 0.001))
            except _Retryable as exc:
                pause = self.backoff_s * 2 ** attempt
                if attempt == self.max_retries or time.monotonic() + pause >= deadline:
                    tries = f"{attempt + 1} {'try' if attempt == 0 else 'tries'}"
                    self._down_why = f"{exc} (gave up after {tries}, {self.timeout_s:g} s at most)"
                    if exc.unreachable:
                        self._down_until = time.monotonic() + self.cooldown_s
                    raise BackendError(self._down_why) from exc.__cause__
                self._sleep(pause)
        raise AssertionError("unreachable")

    def _post_json(self, path: str, body: dict, timeout: float) -> dict:
        response = self._request(path, body, timeout)
        try:
            response.read()
        except httpx.TransportError as exc:
            raise _transport_failure(self.base_url, path, exc, self.timeout_s) from exc
        finally:
            response.close()
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"{self.base_url}{path} answered HTTP {response.status_code} with "
                               f"something that is not JSON: {response.text[:300]!r}") from exc

    def _open_stream(self, path: str, body: dict, timeout: float) -> Iterator[dict]:
        response = self._request(path, body, timeout)  # here, so that connection errors are retried

        def events() -> Iterator[dict]:
            try:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        yield json.loads(data)
                    except ValueError as exc:
                        raise BackendError(f"{self.base_url}{path} streamed a line that is not JSON: "
                                           f"{data[:300]!r}") from exc
            except httpx.TransportError as exc:
                raise BackendError(f"the stream from {self.base_url}{path} broke off: {exc!r}") from exc
            finally:
                response.close()

        return events()

    def _request(self, path: str, body: dict, timeout: float) -> httpx.Response:
        """An open response (body not read yet) with a good status; else _Retryable or BackendError."""
        url = self.base_url + path
        request = self._client.build_request("POST", url, json=body, headers=self._headers, timeout=timeout)
        try:
            response = self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _transport_failure(self.base_url, path, exc, self.timeout_s) from exc
        if response.status_code >= 400:
            try:
                response.read()
            finally:
                response.close()
            _raise_for_status(url, response, self.model_id)
        return response


def _transport_failure(base_url: str, path: str, exc: httpx.TransportError, timeout_s: float) -> _Retryable:
    url = base_url + path
    if isinstance(exc, httpx.ConnectError):
        return _Retryable(f"cannot reach the OpenAI-compatible server at {base_url} ({exc}); is it running? "
                          f"{_START_HINT}", unreachable=True)
    if isinstance(exc, httpx.TimeoutException):
        return _Retryable(f"{url} did not answer within {timeout_s:g} s; raise TOWNSQUARE_OPENAI_TIMEOUT_S "
                          "or check the server", unreachable=True)
    return _Retryable(f"talking to {url} failed: {exc!r}", unreachable=True)


def _raise_for_status(url: str, response: httpx.Response, model: str) -> None:
    status, detail = response.status_code, response.text[:300]
    if status in _RETRY_STATUS and "response_format" not in detail:  # llama.cpp's 500 for a bad field
        raise _Retryable(f"{url} answered HTTP {status}: {detail!r}")
    if status in (401, 403):
        message = f"{url} refused the request (HTTP {status}): check TOWNSQUARE_OPENAI_API_KEY"
    elif status == 404:
        message = (f"{url} was not found (HTTP 404): check TOWNSQUARE_OPENAI_BASE_URL (it usually ends "
                   f"in /v1) and that the server has model '{model}'")
    else:
        message = f"{url} rejected the request (HTTP {status})"
    raise _Rejected(f"{message}. Server said: {detail!r}", status, detail)


def _response_format(schema: dict, kind: str) -> dict:
    if kind == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}
    return {"type": "json_object", "schema": schema}


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"
