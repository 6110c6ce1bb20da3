"""The Redis store's key layout (docs/stores.md, "Key layout").

Every key starts with the store's prefix and a colon. A record's id sits in
a hash tag (``{…}``) so that each atomic step touches one Cluster slot; a
user and the index of its sessions share one.
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

    __slots__ = ("cutoffs", "denied", "epoch", "feed", "keyring", "prefix", "revoked", "users")

    def __init__(self, prefix: str) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ConfigurationError("a Redis store prefix is 1-64 letters, digits and _.-")
        self.prefix = prefix
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
        #: list: every sub, in creation order.
        self.users = self.named("users")

    def named(self, name: str) -> str:
        """A key of the store's own (no hash tag)."""
        return f"{self.prefix}:{name}"

    def pattern(self, kind: str) -> str:
        """The SCAN pattern of every key of one kind (``s``, ``f``)."""
        return f"{self.prefix}:{kind}:*"

    def session(self, sid: str) -> str:
        return f"{self.prefix}:s:{{{sid}}}"

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
    """The sid in a session key that SCAN returned."""
    return session_key.decode().split("{", 1)[1][:-1]
