"""Django's events drive revocation.

- A password change (``set_password`` and ``save``, the admin's password
  form, ``PasswordChangeView`` with ``update_session_auth_hash``, or a new
  hash assigned and saved) ends every jwtwarden session of the user but the
  one the request came with: one cutoff write.
- ``is_active = False`` bans the user (refresh refused, every token dead at
  once); ``is_active = True`` lifts the ban (tokens from before stay dead).
- Deleting a user ends their sessions.

Each revocation runs once the database transaction that made the change
commits (``transaction.on_commit``): a change that is rolled back revokes
nothing, and on SQLite jwtwarden's own connection would otherwise wait for
the lock Django's transaction holds. A revocation that fails (the store is
down) is logged with the user's ``sub`` and raised, so the change does not
pass as complete. Changes that bypass ``save()`` and ``delete()`` (queryset
``update()``, raw SQL) send no signal: call
``get_service().logout_all(sub)`` after them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_init, post_save

from ..errors import JwtWardenError, NotFoundError
from .service import current_session, get_service
from .users import sub_of

__all__ = ["DEACTIVATION_BAN", "connect"]

logger = logging.getLogger("jwtwarden.django")

#: How long a deactivated user is banned: until reactivated, in practice.
DEACTIVATION_BAN = 100 * 365 * 86_400.0
_SEEN = "_jwtwarden_seen"


def connect() -> None:
    """Connect the handlers to the project's user model (the app's ``ready``)."""
    model = get_user_model()
    post_init.connect(_remember, sender=model, dispatch_uid="jwtwarden.remember")
    post_save.connect(_saved, sender=model, dispatch_uid="jwtwarden.saved")
    post_delete.connect(_deleted, sender=model, dispatch_uid="jwtwarden.deleted")


def _state(user: Any) -> tuple[str | None, bool]:
    # Read from __dict__: a deferred field must not cost a query here.
    fields = user.__dict__
    return fields.get("password"), bool(fields.get("is_active", getattr(user, "is_active", True)))


def _remember(sender: type, instance: Any, **kwargs: Any) -> None:
    instance.__dict__[_SEEN] = _state(instance)


def _saved(sender: type, instance: Any, created: bool, raw: bool, using: str, **kw: Any) -> None:
    before = instance.__dict__.get(_SEEN)
    now = _state(instance)
    instance.__dict__[_SEEN] = now
    if created or raw or before is None:
        return
    sub = sub_of(instance)
    password_changed = getattr(instance, "_password", None) is not None or (
        before[0] is not None and now[0] is not None and before[0] != now[0]
    )
    if before[1] and not now[1]:
        _after_commit(using, sub, "deactivated", lambda s: s.ban(sub, until=_ban_end(s)))
    elif now[1] and not before[1]:
        _after_commit(using, sub, "reactivated", lambda s: s.unban(sub))
    if password_changed:
        current = current_session.get()
        keep = current[1] if current is not None and current[0] == sub else None
        _after_commit(using, sub, "password", lambda s: s.logout_all(sub, keep_sid=keep))


def _deleted(sender: type, instance: Any, using: str, **kwargs: Any) -> None:
    sub = sub_of(instance)
    _after_commit(using, sub, "deleted", lambda s: s.logout_all(sub))


def _ban_end(service: Any) -> float:
    return float(service.service.clock.now()) + DEACTIVATION_BAN


def _after_commit(using: str, sub: str, why: str, revoke: Callable[[Any], object]) -> None:
    def run() -> None:
        try:
            revoke(get_service())
        except NotFoundError:
            pass  # jwtwarden never issued this user a token: nothing to end
        except JwtWardenError:
            logger.error("revoking the tokens of sub %s (%s) failed", sub, why)
            raise

    transaction.on_commit(run, using=using)
