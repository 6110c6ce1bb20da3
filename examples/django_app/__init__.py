"""A minimal Django project protected by jwtwarden: settings, urls, views.

Run from the repository root::

    JWTWARDEN_ISSUER=http://127.0.0.1:8000 DJANGO_SETTINGS_MODULE=examples.django_app.settings \
        django-admin runserver 8001
"""
