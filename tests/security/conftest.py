"""Attacks from outside, against the real app on every store.

``any_store`` is a store URL for each backend: memory, SQLite, and the
machine's PostgreSQL (a schema of its own) and Redis (a key prefix of its
own), as ``tests/stores/servers.py`` describes; a server that is down skips
the test (a failure under CI=true, since these are marked ``store``).

The Hypothesis profiles live here too: ``ci`` (CI=true) is derandomized and
bounded so the suite keeps its time budget; ``dev`` is smaller still. Both
keep no example database, so a run leaves nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import store_url
from tests.http.conftest import h, make_harness  # noqa: F401 - fixtures shared with tests/http
from tests.stores.servers import postgres_schema, prefixed, redis_prefix, schema_url

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

ALL_STORES = ["memory", "sqlite", "postgres", "redis", "cluster"]


@pytest.fixture(params=[pytest.param(kind, marks=pytest.mark.store) for kind in ALL_STORES])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    kind = request.param
    if kind == "cluster":  # the suite's throwaway Redis Cluster, a prefix of its own
        request.applymarker(pytest.mark.cluster)
        cluster = request.getfixturevalue("redis_cluster")
        with cluster.prefix() as prefix:
            yield prefixed(prefix, cluster.url)
    elif kind == "postgres":
        with postgres_schema() as schema:
            yield schema_url(schema)
    elif kind == "redis":
        with redis_prefix() as prefix:
            yield prefixed(prefix)
    else:
        yield store_url(kind, tmp_path)
