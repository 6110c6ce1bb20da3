"""``path("api/token/", include("jwtwarden.django.urls"))``: ``token/``-less
routes under the prefix the project picks, named as simplejwt names them
(``token_obtain_pair``, ``token_refresh``, ``token_blacklist``,
``token_verify``). DRF views when ``rest_framework`` is installed, plain
Django views otherwise (jwtwarden.django.views)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.urls import path

from . import views

if apps.is_installed("rest_framework"):
    _drf = views.drf_views()
    _views: dict[str, Any] = {name: cls.as_view() for name, cls in _drf.items()}
else:
    _views = {
        "obtain": views.TokenObtainPairView.as_view(),
        "refresh": views.TokenRefreshView.as_view(),
        "blacklist": views.TokenBlacklistView.as_view(),
        "verify": views.TokenVerifyView.as_view(),
    }

urlpatterns = [
    path("", _views["obtain"], name="token_obtain_pair"),
    path("refresh/", _views["refresh"], name="token_refresh"),
    path("blacklist/", _views["blacklist"], name="token_blacklist"),
    path("verify/", _views["verify"], name="token_verify"),
]
