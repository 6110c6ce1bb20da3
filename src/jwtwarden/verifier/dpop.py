"""DPoP at a resource server (RFC 9449 §7): a bound access token is good
only with a fresh proof from its key, and never as a plain Bearer token.

:func:`check_presentation` is framework-free; every integration gives it
the scheme the token came with, the ``DPoP`` header, and the request's
method and URI *as the resource server is reached by clients* (behind a
proxy, the public URI: each integration documents the proxy headers it
trusts). The proof checks themselves live in :mod:`jwtwarden.tokens.dpop`.

Replays are refused by :class:`ReplayCache`, in memory, per process: a
resource server needs no network call per request. It is bounded; what
happens when it fills is in its docstring. A proof replayed to *another*
process (or another resource server) within its window is not seen by this
one: the window (``max_age``, 60 s) is what bounds that, and server nonces
(RFC 9449 §9, not offered by resource servers here yet) would close it.

An unbound token presented under the ``DPoP`` scheme is refused
(``invalid_token``): RFC 9449 §7.1 has the resource server check that the
proof's key is the one the token is bound to, and an unbound token is bound
to none. Its client sends it as ``Bearer``.

:class:`DpopGuard` holds what a process needs (the cache, the window, the
clock); a :class:`~jwtwarden.Verifier` has one as ``verifier.dpop``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict

from ..clock import Clock
from ..errors import DpopBoundTokenError, InvalidDpopProofError, InvalidTokenError
from ..tokens.dpop import ALGORITHMS, verify_proof

__all__ = [
    "DEFAULT_REPLAY_ENTRIES",
    "DpopGuard",
    "ReplayCache",
    "check_presentation",
    "dpop_challenge",
]

#: Default bound of a :class:`ReplayCache`: about 200 bytes each, so
#: ~3.8 MiB (measured, bench/dpop_verify.py), which holds every proof of
#: 300 DPoP requests/s over the 65 s window.
DEFAULT_REPLAY_ENTRIES = 20_000


class ReplayCache:
    """The DPoP proofs (``jkt:jti``) seen by this process, each until its
    ``replay_until``, at most ``max_entries`` of them.

    When it is full of proofs still inside their window, the oldest entry
    is dropped and the ``floor`` rises to its ``iat``: from then on a proof
    issued at or before the floor is refused as too old, so a replay of a
    dropped proof is still refused; only a legitimate client whose proofs
    lag by more than the remaining window is turned away (it makes a fresh
    proof per request anyway). Memory stays bounded whatever the traffic.
    Thread-safe.
    """

    def __init__(self, max_entries: int = DEFAULT_REPLAY_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        #: Proofs issued at or before this instant are refused.
        self.floor = float("-inf")
        # digest of "jkt:jti" -> (iat, replay_until); insertion order.
        self._seen: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, key: str, *, iat: float, until: float, now: float) -> bool:
        """Remember ``key``; whether this is its first use (``False``: a
        replay, or a proof from before the floor)."""
        # A 16-byte digest instead of the ~300-character key keeps each
        # entry small; a collision is as likely as guessing a SHA-256 half.
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        with self._lock:
            self._expire(now)
            if iat <= self.floor or digest in self._seen:
                return False
            while len(self._seen) >= self.max_entries:
                _, (dropped_iat, _) = self._seen.popitem(last=False)
                self.floor = max(self.floor, dropped_iat)
            if iat <= self.floor:
                return False
            self._seen[digest] = (iat, until)
            return True

    def _expire(self, now: float) -> None:
        # Entries are nearly in window order; stop at the first live one.
        while self._seen:
            digest, (_, until) = next(iter(self._seen.items()))
            if until > now:
                return
            del self._seen[digest]


def check_presentation(
    *,
    scheme: str,
    token: str,
    jkt: str | None,
    proof: str | None,
    method: str,
    uri: str,
    now: float,
    replay: ReplayCache,
    max_age: float = 60.0,
    leeway: float = 5.0,
) -> None:
    """Check how a verified access token was presented.

    ``scheme`` is ``"bearer"`` or ``"dpop"`` (the Authorization scheme; a
    cookie counts as bearer), ``jkt`` the token's ``cnf.jkt`` (``None`` for
    an unbound token), ``proof`` the ``DPoP`` header. Raises
    InvalidTokenError for a bound token without its proof or an unbound one
    under ``DPoP``, and InvalidDpopProofError for a bad or replayed proof.
    """
    if scheme == "bearer":
        check_bearer(jkt)
        return
    if jkt is None:
        raise InvalidTokenError("This access token is not DPoP-bound: send it as Bearer.")
    checked = verify_proof(
        proof, method=method, uri=uri, now=now, max_age=max_age, leeway=leeway, access_token=token
    )
    if not hmac.compare_digest(checked.jkt.encode(), jkt.encode()):
        raise InvalidDpopProofError("The DPoP proof is signed by another key than the token's.")
    if not replay.first_use(
        checked.replay_key, iat=checked.iat, until=checked.replay_until, now=now
    ):
        raise InvalidDpopProofError("The DPoP proof has been used already.")


def check_bearer(jkt: str | None) -> None:
    """A token presented as Bearer (or in the cookie) must not be bound.

    RFC 9449 §7.2: a bound token as Bearer is a stolen one, or a client that
    forgot its key; either way it opens nothing (DpopBoundTokenError).
    """
    if jkt is not None:
        raise DpopBoundTokenError()


class DpopGuard:
    """A process's DPoP checks at a resource server: ``check`` is
    :func:`check_presentation` with this guard's replay cache, window and
    clock. ``max_age`` is how old a proof may be (seconds, RFC 9449 §11.1),
    ``leeway`` how far in the future its ``iat`` may be; ``replay_entries``
    bounds the :class:`ReplayCache` (about 200 bytes each)."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_age: float = 60.0,
        leeway: float = 5.0,
        replay_entries: int = DEFAULT_REPLAY_ENTRIES,
    ) -> None:
        self.clock = clock
        self.max_age = max_age
        self.leeway = leeway
        self.replay = ReplayCache(replay_entries)

    def check(
        self, *, scheme: str, token: str, jkt: str | None, proof: str | None, method: str, uri: str
    ) -> None:
        """See :func:`check_presentation`."""
        if scheme == "bearer":  # no clock read: the usual request stays cheap
            check_bearer(jkt)
            return
        check_presentation(
            scheme=scheme,
            token=token,
            jkt=jkt,
            proof=proof,
            method=method,
            uri=uri,
            now=self.clock.now(),
            replay=self.replay,
            max_age=self.max_age,
            leeway=self.leeway,
        )


def dpop_challenge(
    code: str | None = None, description: str | None = None, realm: str = "jwtwarden"
) -> str:
    """A ``WWW-Authenticate: DPoP …`` challenge (RFC 9449 §7.1) naming the
    accepted proof algorithms."""
    parts = [f'realm="{realm}"', f'algs="{" ".join(ALGORITHMS)}"']
    if code is not None:
        parts.append(f'error="{code}"')
    if description is not None:
        parts.append('error_description="{}"'.format(description.replace('"', "'")))
    return "DPoP " + ", ".join(parts)
