"""jwtwarden inside a Django project: the project's own users are the
identity, jwtwarden issues, rotates and revokes their tokens.

Set-up (docs/migrating-from-simplejwt.md walks a project through it)::

    INSTALLED_APPS += ["jwtwarden.django"]
    JWTWARDEN = {}                      # options: jwtwarden.django.conf
    urlpatterns += [path("api/token/", include("jwtwarden.django.urls"))]
    # python manage.py migrate

- :mod:`~jwtwarden.django.conf`: the ``JWTWARDEN`` setting, and the store on
  the project's own database (:mod:`~jwtwarden.django.database`);
- :mod:`~jwtwarden.django.service`: the process's one sync token service;
- :mod:`~jwtwarden.django.views` and :mod:`~jwtwarden.django.urls`: the
  simplejwt-shaped token endpoints;
- :mod:`~jwtwarden.django.authentication` (DRF) and
  :mod:`~jwtwarden.django.middleware` (plain views): ``request.user`` and
  ``request.auth`` from a bearer token;
- :mod:`~jwtwarden.django.signals`: password changes, deactivation and
  deletion of users revoke their tokens;
- :mod:`~jwtwarden.django.simplejwt`: simplejwt refresh tokens accepted
  once, while a project moves over.

Nothing here is imported by the rest of jwtwarden.
"""
