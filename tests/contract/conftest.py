"""The contract suite's ``store`` fixture, over every backend.

Overrides the ``store`` fixture of ``tests/conftest.py`` for this directory:
memory and SQLite as built there, plus PostgreSQL (a fresh schema per test)
and Redis (a fresh key prefix per test) on the local servers, and Redis
Cluster (a fresh key prefix on the suite's throwaway cluster); see
``tests/stores/servers.py``. A server that is down skips the test with the
reason (a failure under CI=true).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jwtwarden.stores import Store, open_store
from tests.conftest import store_url
from tests.stores.servers import postgres_schema, prefixed, redis_prefix, schema_url

#: Every backend the contract suite runs against.
CONTRACT_STORE_KINDS = ["memory", "sqlite", "postgres", "redis", "cluster"]


@pytest.fixture(params=CONTRACT_STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    kind = request.param
    s: Store
    if kind == "postgres":
        from jwtwarden.stores.postgres import PostgresStore

        with postgres_schema() as schema:
            s = PostgresStore(schema_url(schema))
            yield s
            await s.close()
    elif kind == "redis":
        from jwtwarden.stores.redis import RedisStore

        with redis_prefix() as prefix:
            s = RedisStore(prefixed(prefix))
            yield s
            await s.close()
    elif kind == "cluster":
        from jwtwarden.stores.redis import RedisStore

        request.applymarker(pytest.mark.cluster)
        cluster = request.getfixturevalue("redis_cluster")
        with cluster.prefix() as prefix:
            s = RedisStore(prefixed(prefix, cluster.url))
            yield s
            await s.close()
    else:
        s = open_store(store_url(kind, tmp_path))
        yield s
        await s.close()
