"""A schema fuzz: schemathesis generates requests from the app's own OpenAPI; none may get a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.stack import Stack

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # No worker: whatever valid job the fuzz creates stays queued (and then meets the 429 cap), so the
    # fuzz measures the API edge alone and loads no model.
    stack = Stack(tmp_path_factory.mktemp("fuzz"), workers=0, env={"STYLEWAVE_MAX_QUEUED": "20"}).start()
    yield stack
    stack.stop()


def test_no_server_errors(fuzz_stack: Stack) -> None:
    # The strategies are driven directly: schemathesis' pytest plugin does not support this pytest.
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.url}/openapi.json")
    # /readyz answers 503 by design here: this stack has no worker.
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path != "/readyz"]
    assert len(operations) >= 9
    calls = 0

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_5xx(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=fuzz_stack.url, timeout=30)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            )

        no_5xx()
    assert calls >= len(operations) * 3
