"""Prometheus metrics: counters fed by the service's events, and a latency
histogram per route template. Labels never carry a user, session or token
(unbounded cardinality, and personal data)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from ..events import Event

__all__ = ["Metrics"]

_REVOCATIONS = {
    "session_revoked": "session",
    "user_revoked": "user",
    "user_banned": "ban",
    "token_revoked": "token",
    "roles_changed": "roles",
    "password_changed": "password",
}


class Metrics:
    """One registry per app, so several apps in one process do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.logins = Counter(
            "jwtwarden_logins_total", "Login attempts.", ["outcome"], registry=self.registry
        )
        self.refreshes = Counter(
            "jwtwarden_refreshes_total", "Refresh-token rotations.", registry=self.registry
        )
        self.reuse = Counter(
            "jwtwarden_reuse_detected_total",
            "Spent refresh tokens presented again (sessions revoked).",
            registry=self.registry,
        )
        self.revocations = Counter(
            "jwtwarden_revocations_total", "Revocations by kind.", ["kind"], registry=self.registry
        )
        self.latency = Histogram(
            "jwtwarden_request_duration_seconds",
            "Request latency.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self._children: dict[tuple[str, str, int], Any] = {}

    def on_event(self, event: Event) -> None:
        if event.kind == "login":
            self.logins.labels("success").inc()
        elif event.kind in ("login_failed", "login_throttled"):
            self.logins.labels("throttled" if event.kind == "login_throttled" else "failure").inc()
        elif event.kind == "refresh":
            self.refreshes.inc()
        elif event.kind == "reuse_detected":
            self.reuse.inc()
        if event.kind in _REVOCATIONS:
            self.revocations.labels(_REVOCATIONS[event.kind]).inc()

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request into the latency histogram. ``route`` is a
        route template (or ``unmatched``), never a raw path, so the labels
        stay bounded: methods x route templates x statuses. The labelled
        child is looked up once per label set, in a plain dict (half of
        what ``labels()`` costs per request)."""
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.latency.labels(method, route, str(status))
        child.observe(seconds)
