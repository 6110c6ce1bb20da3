"""Where the secret material lives, and the KeyManager that keeps it current.

The signing keys and the refresh-token MAC secret (one :class:`KeyRing`) are
never in the store in clear (DESIGN property 4). They live in one of:

- a **key file** (JSON, mode 0600, refused if group/other can read it),
  shared by the processes of one machine;
- the **store, encrypted** with AES-256-GCM under a key derived (HKDF) from
  ``JWTWARDEN_MASTER_KEY``, shared by every process and host on that store;
- **memory only**, for tests and the ``memory://`` store.

Every source saves with compare-and-swap, so two processes starting at once
end up with one ring, and a rotation in one process is seen by the others at
their next reload.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import ConfigurationError
from .stores.base import Store
from .tokens.keys import Algorithm, KeyRing, SigningKey

__all__ = ["EphemeralKeySource", "FileKeySource", "KeyManager", "KeySource", "StoreKeySource"]

#: How often a process re-reads the ring to see rotations made elsewhere.
RELOAD_INTERVAL = 60.0
#: Smallest master key accepted, in characters.
MIN_MASTER_KEY_LENGTH = 32


class KeySource(Protocol):
    """Loads and saves a KeyRing; ``version`` is opaque compare-and-swap state.

    ``survives_store_loss`` says whether the ring outlives the store's data:
    only then can a new ring prove that a store without an epoch is new
    rather than lost (docs/stores.md, "Data loss")."""

    survives_store_loss: bool

    async def load(self) -> tuple[KeyRing, bytes] | None: ...

    async def save(self, ring: KeyRing, version: bytes | None) -> bool: ...


class EphemeralKeySource:
    """Keys that live and die with the process."""

    survives_store_loss = False

    def __init__(self) -> None:
        self._data: bytes | None = None
        self._lock = threading.Lock()

    async def load(self) -> tuple[KeyRing, bytes] | None:
        data = self._data
        return None if data is None else (KeyRing.from_record(json.loads(data)), data)

    async def save(self, ring: KeyRing, version: bytes | None) -> bool:
        with self._lock:
            if self._data != version:
                return False
            self._data = json.dumps(ring.to_record()).encode()
            return True


class FileKeySource:
    """A JSON key file created with mode 0600, written under an ``fcntl``
    lock (POSIX only: elsewhere, seal the keys in the store with a master
    key)."""

    survives_store_loss = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        _fcntl()  # refuse now, clearly, rather than at the first save
        self.path = Path(path)

    async def load(self) -> tuple[KeyRing, bytes] | None:
        data = self._read()
        return None if data is None else (KeyRing.from_record(_json(data, self.path)), data)

    async def save(self, ring: KeyRing, version: bytes | None) -> bool:
        data = json.dumps(ring.to_record(), indent=1).encode()
        with self._locked():
            if self._read() != version:
                return False
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        return True

    def _read(self) -> bytes | None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigurationError(
                    f"key file {self.path} is readable by others (mode {stat.S_IMODE(mode):o}); "
                    "run: chmod 600 " + str(self.path)
                )
            return fh.read()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl = _fcntl()
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


class StoreKeySource:
    """The ring in the store, sealed with AES-256-GCM under the master key."""

    _AAD = b"jwtwarden keyring v1"
    #: A store that loses its data loses the ring too.
    survives_store_loss = False

    def __init__(self, store: Store, master_key: str) -> None:
        if len(master_key) < MIN_MASTER_KEY_LENGTH:
            raise ConfigurationError(
                f"JWTWARDEN_MASTER_KEY must be at least {MIN_MASTER_KEY_LENGTH} characters; "
                'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        self._store = store
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"jwtwarden keyring key")
        self._aead = AESGCM(hkdf.derive(master_key.encode()))

    async def load(self) -> tuple[KeyRing, bytes] | None:
        blob = await self._store.load_keyring()
        if blob is None:
            return None
        try:
            data = self._aead.decrypt(blob[:12], blob[12:], self._AAD)
        except (InvalidTag, ValueError) as exc:
            raise ConfigurationError(
                "cannot decrypt the stored keys: "
                "is JWTWARDEN_MASTER_KEY the one they were made with?"
            ) from exc
        return KeyRing.from_record(_json(data, "the store")), blob

    async def save(self, ring: KeyRing, version: bytes | None) -> bool:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, json.dumps(ring.to_record()).encode(), self._AAD)
        return await self._store.save_keyring(sealed, version)


class KeyManager:
    """The process's current KeyRing: created on first start, reloaded
    periodically and on an unknown ``kid``, rotated with compare-and-swap."""

    def __init__(self, source: KeySource, algorithm: Algorithm, keep_retired_for: float) -> None:
        self._source = source
        self._algorithm: Algorithm = algorithm
        #: A retired key verifies for this long: its last token's lifetime
        #: plus the time other processes may take to notice the rotation.
        self._keep_retired_for = keep_retired_for + RELOAD_INTERVAL
        self._ring: KeyRing | None = None
        self._loaded_at = float("-inf")
        #: Whether :meth:`ensure` made the ring (no token signed by it exists).
        self.created = False

    @property
    def may_vouch_new_store(self) -> bool:
        """Whether a store without an epoch may be taken as new: the ring was
        just made, and it lives where a store's data loss cannot reach."""
        return self.created and self._source.survives_store_loss

    @property
    def ring(self) -> KeyRing:
        if self._ring is None:
            raise ConfigurationError("keys not loaded; call KeyManager.ensure() first")
        return self._ring

    def signing_key(self) -> SigningKey:
        key = self.ring.active(self._algorithm)
        if key is None:
            raise ConfigurationError(f"no active {self._algorithm} key")
        return key

    def find(self, kid: str) -> SigningKey | None:
        return self.ring.get(kid)

    async def ensure(self, now: float) -> KeyRing:
        """Load the ring, creating it (or a key of the configured algorithm)
        if missing."""
        while True:
            loaded = await self._source.load()
            if loaded is not None and loaded[0].active(self._algorithm) is not None:
                self._set(loaded[0], now)
                return loaded[0]
            ring = (
                KeyRing.generate(self._algorithm, now)
                if loaded is None
                else loaded[0].rotate(self._algorithm, now)
            )
            if await self._source.save(ring, None if loaded is None else loaded[1]):
                self.created = loaded is None
                self._set(ring, now)
                return ring

    async def bind(self, store_epoch: str, now: float) -> None:
        """Record that the ring now signs under ``store_epoch``: the witness
        a later start compares the store's epoch with."""
        while True:
            loaded = await self._source.load()
            if loaded is None or loaded[0].store_epoch == store_epoch:
                if loaded is not None:
                    self._set(loaded[0], now)
                return
            ring = replace(loaded[0], store_epoch=store_epoch)
            if await self._source.save(ring, loaded[1]):
                self._set(ring, now)
                return

    async def reload(self, now: float) -> None:
        loaded = await self._source.load()
        if loaded is not None:
            self._set(loaded[0], now)

    async def reload_if_due(self, now: float, interval: float = RELOAD_INTERVAL) -> bool:
        if now - self._loaded_at < interval:
            return False
        await self.reload(now)
        return True

    async def rotate(self, now: float) -> SigningKey:
        """Make a new key the signing key; retire the others and drop those
        whose tokens have all expired."""
        while True:
            loaded = await self._source.load()
            if loaded is None:
                await self.ensure(now)
                continue
            ring = loaded[0].drop_retired(now, self._keep_retired_for).rotate(self._algorithm, now)
            if await self._source.save(ring, loaded[1]):
                self._set(ring, now)
                return ring.keys[-1]

    async def drop_expired(self, now: float) -> int:
        """Drop retired keys no live token can need; return how many."""
        while True:
            loaded = await self._source.load()
            if loaded is None:
                return 0
            ring = loaded[0].drop_retired(now, self._keep_retired_for)
            dropped = len(loaded[0].keys) - len(ring.keys)
            if dropped == 0 or await self._source.save(ring, loaded[1]):
                self._set(ring, now)
                return dropped

    def _set(self, ring: KeyRing, now: float) -> None:
        self._ring = ring
        self._loaded_at = now


def _json(data: bytes, where: object) -> dict[str, object]:
    try:
        record = json.loads(data)
    except ValueError as exc:
        raise ConfigurationError(f"key material in {where} is not valid JSON") from exc
    if not isinstance(record, dict):
        raise ConfigurationError(f"key material in {where} is corrupt")
    return record


def _fcntl() -> ModuleType:
    """The ``fcntl`` module, imported only when a key file is used, so the
    package imports on platforms without it (Windows)."""
    try:
        import fcntl
    except ImportError:
        raise ConfigurationError(
            "a key file needs fcntl file locking, which this platform lacks: set "
            "JWTWARDEN_MASTER_KEY to keep the keys sealed in the store instead"
        ) from None
    return fcntl
