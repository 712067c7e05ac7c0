"""Property-based run of the OpenAPI schema: no input, however hostile, gets a 5xx.

Every operation gets a bounded number of generated requests, sent with a key holding every scope
(so they pass authentication and reach the route's own validation and code).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.web.conftest import World


@pytest.fixture(scope="module")
def api_world(tmp_path_factory, demo_db):
    world = World(tmp_path_factory.mktemp("schemathesis"), demo_db, rate_per_s=1e6, rate_burst=10**6)
    world.secret = world.services.keys.create(["ingest", "read", "moderate", "admin"], name="fuzz")[0]
    world.services.feed.index  # noqa: B018  (load the heavy parts before the clock starts)
    world.services.interact()
    yield world
    world.store.close()


@pytest.mark.slow
def test_no_server_errors(api_world):
    """Driven by hand rather than by schemathesis' pytest plugin, which this pytest does not load."""
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", api_world.app)
    headers = {"Authorization": f"Bearer {api_world.secret}"}
    failures, tried, codes = [], 0, {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call(headers=headers, timeout=120)
            codes[response.status_code] = codes.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        run()
        tried += 1
    print("status codes:", sorted(codes.items()))
    assert tried >= 25
    assert not failures, "\n".join(failures[:20])
