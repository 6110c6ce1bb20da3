"""The one Django model of the app: simplejwt refresh tokens already traded
for jwtwarden tokens (:mod:`~jwtwarden.django.simplejwt`), so each is
accepted once even without simplejwt's blacklist app. A row lives until the
token would have expired; jwtwarden's own state is in its store's tables."""

from __future__ import annotations

from typing import Any

from django.db import models


class MigratedRefreshToken(models.Model):
    """The ``jti`` of a simplejwt refresh token that has been traded."""

    jti: Any = models.CharField(max_length=255, primary_key=True)
    #: When the simplejwt token expires; the row may go after that.
    expires_at: Any = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "jwtwarden"
