"""A minimal Django project protected by jwtwarden: settings, urls, views.

Run from the repository root::

    export JWTWARDEN_ISSUER=http://127.0.0.1:8000
    # what `jwtwarden clients add orders-api` printed on the auth server:
    export JWTWARDEN_CLIENT_ID=rs_... JWTWARDEN_CLIENT_SECRET=...
    DJANGO_SETTINGS_MODULE=examples.django_app.settings python -m django runserver --noreload 8001

The verifier is built at start-up (``apps.py``), so missing client
credentials stop it there, naming them, and the first request finds the
first snapshot loaded. ``/readyz`` answers 503
until revocations are current.
"""
