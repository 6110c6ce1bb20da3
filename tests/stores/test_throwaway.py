"""The throwaway servers are the suite's own: separate from the machine's
servers, and restartable on the same port."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import pytest
import redis

from tests.stores.servers import POSTGRES_URL, postgres_admin, redis_admin
from tests.stores.throwaway import ThrowawayPostgres, ThrowawayRedis

pytestmark = [pytest.mark.store, pytest.mark.throwaway]


def test_a_key_on_the_throwaway_redis_is_not_on_the_machines(
    throwaway_redis: ThrowawayRedis,
) -> None:
    machine = redis_admin()
    own = redis_admin(throwaway_redis.url)
    key = f"jwt-test-throwaway-{secrets.token_hex(6)}"
    try:
        own.set(key, "1", ex=60)
        assert own.get(key) == b"1"
        assert machine.get(key) is None
        assert own.config_get("port")["port"] != machine.config_get("port")["port"]
    finally:
        machine.close()
        own.close()


def test_the_throwaway_redis_restarts_on_its_port(throwaway_redis: ThrowawayRedis) -> None:
    port = throwaway_redis.port
    client = redis.Redis.from_url(throwaway_redis.url, socket_connect_timeout=1)
    try:
        throwaway_redis.stop()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        throwaway_redis.start()
        assert throwaway_redis.port == port
        assert client.ping()
    finally:
        client.close()


def test_the_throwaway_postgres_is_another_cluster(throwaway_postgres: ThrowawayPostgres) -> None:
    assert throwaway_postgres.port != urlsplit(POSTGRES_URL).port
    query = "SELECT system_identifier FROM pg_control_system()"
    with postgres_admin() as machine, postgres_admin(throwaway_postgres.url) as own:
        assert machine.execute(query).fetchone() != own.execute(query).fetchone()
        table = f"jwt_test_throwaway_{secrets.token_hex(6)}"
        own.execute(f"CREATE TABLE {table} (x int)")
        try:
            found = machine.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
            assert found == (None,)
        finally:
            own.execute(f"DROP TABLE {table}")
