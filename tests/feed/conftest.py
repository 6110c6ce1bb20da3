"""The conformance suite of docs/feed-protocol.md: black-box, over HTTP,
against the real ``jwtwarden serve`` the e2e suite starts (its fixtures are
imported, not copied). A small SSE reader follows the WHATWG parsing rules
the document points at."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PASSWORD, Serve, jwtwarden, serve  # noqa: F401  (fixture)

__all__ = ["Event", "Feed", "login"]


@dataclass
class Event:
    type: str
    data: dict[str, Any]
    #: The ``id:`` field of this event, or None when it had none.
    id: str | None


class Stream:
    """An open ``/revocations`` stream read event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()
        #: The last ``retry:`` value the server sent (milliseconds), if any.
        self.retry: int | None = None

    def next(self) -> Event:
        kind, data, event_id = "message", list[str](), None
        for line in self._lines:
            if line == "":
                if data:
                    return Event(kind, json.loads("\n".join(data)), event_id)
                kind, event_id = "message", None
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    kind = value
                elif field == "data":
                    data.append(value)
                elif field == "id":
                    event_id = value
                elif field == "retry" and value.isdigit():
                    self.retry = int(value)
        raise AssertionError("the stream ended")

    def until(self, wanted: Callable[[Event], bool], seconds: float = 5.0) -> list[Event]:
        """Every event up to and including the first ``wanted`` one."""
        seen: list[Event] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            seen.append(self.next())
            if wanted(seen[-1]):
                return seen
        raise AssertionError(f"no such event within {seconds}s: {[e.type for e in seen]}")


@dataclass
class Feed:
    """A running server and resource-server credentials for its feed."""

    url: str
    endpoint: str
    auth: tuple[str, str]
    root: str

    def open(self, headers: dict[str, str] | None = None, **params: str) -> Any:
        """A context manager yielding a :class:`Stream` (asserting a 200)."""

        @contextlib.contextmanager
        def opened() -> Iterator[Stream]:
            timeout = httpx.Timeout(10.0, connect=3.0)
            with httpx.stream(
                "GET",
                self.endpoint,
                auth=self.auth,
                headers={"accept": "text/event-stream", **(headers or {})},
                params=params,
                timeout=timeout,
            ) as response:
                assert response.status_code == 200, response.read()
                yield Stream(response)

        return opened()

    def bearer(self, token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"}

    def admin(self) -> dict[str, str]:
        return self.bearer(self.root)


def login(url: str, user: str = "alice") -> dict[str, Any]:
    r = httpx.post(
        url + "/token", data={"grant_type": "password", "username": user, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture
def feed(serve: Serve, tmp_path: Path) -> Iterator[Feed]:  # noqa: F811
    """A server with a short access-token lifetime (so forget_at is easy to
    check), strict rotation, and feed credentials."""
    with serve(access_ttl="120", refresh_grace="0") as url:
        creds = json.loads(
            jwtwarden("clients", "add", "conformance", cwd=tmp_path, env={**os.environ})
        )
        meta = httpx.get(url + "/.well-known/oauth-authorization-server").json()
        endpoint = (
            meta.get("jwtwarden_revocations_endpoint")
            or meta["issuer"].rstrip("/") + "/revocations"
        )
        yield Feed(
            url,
            endpoint,
            (creds["client_id"], creds["client_secret"]),
            login(url, "root")["access_token"],
        )
