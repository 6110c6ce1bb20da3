"""Verification keys held in memory, and kept current from a JWKS URL.

A resource server must not fetch keys per request (DESIGN property 8), yet
it must pick up a new signing key soon after the issuer rotates. So keys
are fetched once, refreshed when older than ``max_age``, and an unknown
``kid`` triggers a refetch, because after a rotation the first tokens
signed by the new key arrive before the scheduled refresh.

That refetch is an amplifier: anyone can send tokens with random ``kid``
values. Every fetch attempt, successful or not, therefore waits at least
``refetch_interval`` after the previous one, whatever the ``kid`` and the
thread; while one thread fetches, the others keep verifying with the keys
they have (no stampede). A failed fetch keeps the old keys and logs a
warning naming the URL and the reason, never a token or a key.

While fetches fail, the wait between attempts starts short and doubles up
to ``FAILING_RETRY_CAP`` (never above ``refetch_interval``): a resource
server started while its issuer is down gets keys within seconds of the
issuer coming back, not a whole interval later, and a storm of forged
``kid`` values still costs at most one fetch per few seconds.

httpx is imported only when a fetch is made without a client given, so
``jwtwarden.verifier`` imports without it (the ``jwks`` extra installs it).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

from ..clock import Clock
from ..errors import ConfigurationError
from ..tokens.access import VerificationKey
from ..tokens.jwks import parse_jwks

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAX_JWKS_BYTES",
    "IdentifiedKey",
    "JwksClient",
    "JwksFetchError",
    "KeySet",
    "fetch_jwks",
    "keys_from",
]

logger = logging.getLogger("jwtwarden.verifier")

#: Largest JWKS document accepted; a real one is a few KiB.
MAX_JWKS_BYTES = 1024 * 1024
#: Seconds to connect, and to wait for each read, when fetching a JWKS.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 3.0
# Longest a caller with no keys at all waits for another thread's fetch.
_WAIT = 2 * (CONNECT_TIMEOUT + READ_TIMEOUT)
#: Seconds before the first retry after a failed fetch; doubled per failure.
FAILING_RETRY_FIRST = 0.5
#: Longest wait between attempts while fetches fail (the feed's backoff cap).
FAILING_RETRY_CAP = 5.0


class JwksFetchError(Exception):
    """A JWKS could not be fetched or was unusable; ``str()`` is the reason,
    safe to log (it never holds key material)."""


class IdentifiedKey(VerificationKey, Protocol):
    """A verification key that carries its ``kid``."""

    @property
    def kid(self) -> str: ...


class KeySet:
    """Verification keys by ``kid``, replaced as a whole.

    Reads are one dict lookup on a dict that is never mutated, only swapped,
    so they take no lock. :attr:`version` changes whenever a key is withdrawn
    or replaced, which lets a cache of verified tokens drop what a withdrawn
    key vouched for.
    """

    def __init__(self, keys: Iterable[IdentifiedKey] = ()) -> None:
        self._keys: dict[str, IdentifiedKey] = {}
        #: Bumped when a ``kid`` disappears or names another key.
        self.version = 0
        self.replace(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, kid: str) -> IdentifiedKey | None:
        """The key named ``kid``, or ``None``."""
        return self._keys.get(kid)

    def replace(self, keys: Iterable[IdentifiedKey]) -> None:
        """Install ``keys`` (objects with ``kid``, ``alg`` and ``public``)."""
        new = {key.kid: key for key in keys}
        old = self._keys
        if any(new.get(kid) != key for kid, key in old.items()):
            self.version += 1
        self._keys = new


def keys_from(keys: Mapping[str, Any] | Iterable[Any]) -> list[IdentifiedKey]:
    """The keys of a JWKS document (only EdDSA, ES256 and RS256 public keys
    are taken), or key objects as given."""
    if isinstance(keys, Mapping):
        return list(parse_jwks(dict(keys)))
    return list(cast(Iterable[IdentifiedKey], keys))


def fetch_jwks(
    client: httpx.Client, url: str, *, max_bytes: int = MAX_JWKS_BYTES
) -> list[IdentifiedKey]:
    """GET ``url`` and return its keys.

    Raises :class:`JwksFetchError` for a transport error, a status other
    than 200, a body over ``max_bytes`` (checked while reading, so a huge or
    endless body is never held), or a document that is not a JWK Set.
    """
    import httpx

    try:
        with client.stream("GET", url, headers={"accept": "application/json"}) as response:
            if response.status_code != 200:
                raise JwksFetchError(f"status {response.status_code}")
            body = _read_bounded(response, max_bytes)
    except httpx.HTTPError as exc:
        raise JwksFetchError(type(exc).__name__) from exc
    return _parse_document(body)


def _read_bounded(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise JwksFetchError(f"response over {max_bytes} bytes")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise JwksFetchError(f"response over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_document(body: bytes) -> list[IdentifiedKey]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise JwksFetchError("response is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksFetchError("response is not a JWK Set")
    return list(parse_jwks(document))


class JwksClient:
    """Keys fetched from a JWKS URL into a :class:`KeySet`, refreshed when
    older than ``max_age`` and on an unknown ``kid``, at most one attempt per
    ``refetch_interval``.

    ``http_client`` is an ``httpx.Client`` to fetch with (tests pass one on
    an ``httpx.MockTransport``); by default one is made on first use with
    short timeouts and no redirects. Time comes from ``clock``.
    """

    def __init__(
        self,
        url: str,
        keys: KeySet,
        *,
        clock: Clock,
        refetch_interval: float = 30.0,
        max_age: float = 300.0,
        http_client: httpx.Client | None = None,
        max_bytes: int = MAX_JWKS_BYTES,
    ) -> None:
        if urlsplit(url).scheme not in ("https", "http"):
            raise ConfigurationError("jwks_url must be an http(s) URL.")
        if refetch_interval <= 0 or max_age <= 0 or max_bytes <= 0:
            raise ConfigurationError("JWKS intervals and size bound must be positive.")
        self.url = url
        self.keys = keys
        self.clock = clock
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._client = http_client
        self._owns_client = http_client is None
        #: When the keys were last fetched successfully (``None``: never).
        self.fetched_at: float | None = None
        #: Why the last attempt failed; ``None`` after a success.
        self.last_error: str | None = None
        self._attempted_at = float("-inf")
        #: Failed attempts since the last success; they shorten the wait.
        self._failures = 0
        self._lock = threading.Lock()

    def find(self, kid: str) -> IdentifiedKey | None:
        """The key named ``kid``, fetching first when one is due: on first
        use (the caller waits), when the keys are stale or ``kid`` is
        unknown (one caller fetches, the others go on with the keys held)."""
        now = self.clock.now()
        if self.fetched_at is None:
            self._fetch_if_allowed(now, wait=True)
        elif self._is_due(kid, now):
            self._fetch_if_allowed(now, wait=False)
        return self.keys.get(kid)

    def is_failing(self) -> bool:
        """Whether the keys could not be fetched at the last attempt (or
        never were): an unknown ``kid`` may then be a key not yet seen."""
        return self.fetched_at is None or self.last_error is not None

    def is_fetch_due(self, kid: str) -> bool:
        """Whether :meth:`find` would fetch for ``kid`` now, so async callers
        can run it off the event loop."""
        now = self.clock.now()
        if self.fetched_at is None:
            # A first fetch in flight is waited for: that wait blocks too.
            return self._may_attempt(now) or self._lock.locked()
        return self._is_due(kid, now)

    def refresh(self) -> bool:
        """Fetch now, ignoring the age of the keys but not the rate limit;
        whether new keys were installed. Useful at start-up."""
        return self._fetch_if_allowed(self.clock.now(), wait=True)

    def _is_due(self, kid: str, now: float) -> bool:
        stale = self.fetched_at is None or now - self.fetched_at >= self.max_age
        return (stale or self.keys.get(kid) is None) and self._may_attempt(now)

    def retry_after(self) -> float:
        """Seconds until the next fetch attempt is allowed (0: now)."""
        return max(0.0, self._attempted_at + self._interval() - self.clock.now())

    def _interval(self) -> float:
        if self._failures == 0:
            return self.refetch_interval
        backoff: float = FAILING_RETRY_FIRST * 2.0 ** min(self._failures - 1, 16)
        return min(backoff, FAILING_RETRY_CAP, self.refetch_interval)

    def _may_attempt(self, now: float) -> bool:
        return now - self._attempted_at >= self._interval()

    def _fetch_if_allowed(self, now: float, *, wait: bool) -> bool:
        acquired = self._lock.acquire(timeout=_WAIT) if wait else self._lock.acquire(False)
        if not acquired:
            return False
        try:
            # Checked again under the lock: the thread we waited for may just
            # have fetched.
            if not self._may_attempt(now):
                return False
            self._attempted_at = now
            return self._fetch(now)
        finally:
            self._lock.release()

    def _fetch(self, now: float) -> bool:
        try:
            found = fetch_jwks(self._http_client(), self.url, max_bytes=self.max_bytes)
        except JwksFetchError as exc:
            self.last_error = str(exc)
            self._failures += 1
            logger.warning(
                "JWKS fetch from %s failed (%s); keeping %d key(s)",
                _loggable(self.url),
                exc,
                len(self.keys),
            )
            return False
        if not found:
            logger.warning("JWKS at %s holds no usable key", _loggable(self.url))
        self.keys.replace(found)
        self.fetched_at = now
        self.last_error = None
        self._failures = 0
        return True

    def _http_client(self) -> httpx.Client:
        if self._client is None:
            self._client = _default_client()
        return self._client

    def close(self) -> None:
        """Close the HTTP client made here (one passed in is the caller's)."""
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            client.close()


def _default_client() -> httpx.Client:
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "Fetching a JWKS needs httpx: pip install 'jwtwarden[verifier]'."
        ) from exc
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    return httpx.Client(timeout=timeout, follow_redirects=False)


def _loggable(url: str) -> str:
    # Credentials in the URL or a query string are not for the log.
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
