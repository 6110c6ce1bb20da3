"""The app's verifier with DPoP checks: :class:`~._verify.ServiceVerifier`
plus a per-process :class:`~jwtwarden.verifier.dpop.DpopGuard` on the
app's clock (``JWTWARDEN["CLOCK"]``), so ``Authorization: DPoP`` works in
the middleware and the DRF class alike, with one replay cache."""

from __future__ import annotations

from ..verifier.dpop import DpopGuard
from ._verify import ServiceVerifier
from .service import current_options

__all__ = ["app_verifier"]


class _AppClock:
    """The app's clock, looked up per call: the setting may change."""

    def now(self) -> float:
        return current_options().clock.now()


class AppVerifier(ServiceVerifier):
    """:class:`ServiceVerifier` with the process's DPoP checks."""

    def __init__(self) -> None:
        #: Read by :func:`jwtwarden.verifier.django.authenticate`.
        self.dpop = DpopGuard(_AppClock())


app_verifier = AppVerifier()
