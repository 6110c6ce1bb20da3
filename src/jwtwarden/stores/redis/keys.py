"""The Redis store's key layout (docs/stores.md, "Key layout" and "Cluster").

Every key starts with the store's prefix and a colon. A record's id sits in
a hash tag (``{…}``) so that each atomic step touches one Cluster slot; a
user and the index of its sessions share one.

On Redis Cluster (``cluster=True``) two things move so that every atomic
step is one slot: a session lives in its user's slot (``P:s:{sub}:sid``,
found from the sid by the pointer ``P:p:{sid}``), and every revocation
source (denylist, indexes, the users' revocation mirror, the feed, the
epoch, the keyring) shares the one tag ``{r}``. Single-node Redis keeps its
layout: nothing to migrate.
"""

from __future__ import annotations

import re

from ...errors import ConfigurationError

__all__ = ["Keys", "sid_of"]

_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Keys:
    """The names of one store's keys, under ``prefix``.

    Raises :class:`~jwtwarden.errors.ConfigurationError` for a prefix that
    is not 1-64 letters, digits and ``_.-``.
    """

    __slots__ = (
        "cluster",
        "cutoffs",
        "denied",
        "epoch",
        "feed",
        "keyring",
        "mirror",
        "named",
        "prefix",
        "revoked",
        "users",
    )

    def __init__(self, prefix: str, *, cluster: bool = False) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ConfigurationError("a Redis store prefix is 1-64 letters, digits and _.-")
        self.prefix = prefix
        #: Redis Cluster: sessions in their user's slot, revocations under {r}.
        self.cluster = cluster
        #: The revocation sources' names: ``P:{r}:d`` on Cluster, ``P:d`` else.
        self.named = self._tagged if cluster else self._plain
        #: zset: denied jtis, scored by forget_at.
        self.denied = self.named("d")
        #: zset: revoked sids, scored by revoked_at (the snapshot's index).
        self.revoked = self.named("rv")
        #: zset: subs with a cutoff, scored by cutoff_at (the snapshot's index).
        self.cutoffs = self.named("co")
        #: stream: the revocation feed.
        self.feed = self.named("x")
        #: hash: the store's epoch (data-loss detection).
        self.epoch = self.named("e")
        #: string: the sealed keyring blob.
        self.keyring = self.named("k")
        #: hash: sub -> "version|cutoff_at|keep_sid|banned_until", each user's
        #: revocation state as last put on the feed (scripts/user_feed.lua).
        self.mirror = self.named("um")
        #: list: every sub, in creation order.
        self.users = self._plain("users")

    def _plain(self, name: str) -> str:
        """A key of the store's own (no hash tag)."""
        return f"{self.prefix}:{name}"

    def _tagged(self, name: str) -> str:
        """A revocation source on Cluster: all in the slot of ``{r}``."""
        return f"{self.prefix}:{{r}}:{name}"

    def pattern(self, kind: str) -> str:
        """The SCAN pattern of every key of one kind (``s``, ``f``)."""
        return f"{self.prefix}:{kind}:*"

    def session(self, sid: str, sub: str | None = None) -> str:
        """A session's hash: ``P:s:{sid}``, or on Cluster ``P:s:{sub}:sid``
        (``sub`` required), in its user's slot."""
        if not self.cluster:
            return f"{self.prefix}:s:{{{sid}}}"
        if sub is None:
            raise ValueError("a session key on Cluster needs its sub")
        return f"{self.prefix}:s:{{{sub}}}:{sid}"

    def pointer(self, sid: str) -> str:
        """Cluster only: string sid -> sub, to find a session's slot."""
        return f"{self.prefix}:p:{{{sid}}}"

    def is_session(self, key: bytes) -> bool:
        """Whether a key SCAN found under :meth:`pattern` ``s`` is a session."""
        return b"}:" in key if self.cluster else key.endswith(b"}")

    def user(self, sub: str) -> str:
        return f"{self.prefix}:u:{{{sub}}}"

    def user_sessions(self, sub: str) -> str:
        return f"{self.prefix}:u:{{{sub}}}:s"

    def name(self, username_key: str) -> str:
        return f"{self.prefix}:n:{{{username_key}}}"

    def failures(self, key: str) -> str:
        return f"{self.prefix}:f:{{{key}}}"

    def client(self, client_id: str) -> str:
        return f"{self.prefix}:c:{{{client_id}}}"

    def client_name(self, name: str) -> str:
        return f"{self.prefix}:cn:{{{name}}}"

    def once(self, namespace: str, key: str) -> str:
        """A single-use id (``remember_once``); its value is its ``until``."""
        return f"{self.prefix}:o:{namespace}:{{{key}}}"


def sid_of(session_key: bytes) -> str:
    """The sid in a session key that SCAN returned (either layout)."""
    text = session_key.decode()
    if text.endswith("}"):
        return text.split("{", 1)[1][:-1]
    return text.rsplit(":", 1)[1]
