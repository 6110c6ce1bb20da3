"""jwtwarden's store tables in the project's database, and the table of
traded simplejwt refresh tokens.

Not atomic: the store's tables are made on jwtwarden's own connection, which
must see the PostgreSQL schema committed (and on SQLite must not wait for a
lock held by Django's migration transaction)."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def create_store_tables(apps: Any, schema_editor: Any) -> None:
    from jwtwarden.django.conf import options
    from jwtwarden.django.database import DATABASE_ALIAS, create_tables

    checked = options()
    # A store elsewhere (JWTWARDEN["STORE"]) makes its own schema.
    if schema_editor.connection.alias == DATABASE_ALIAS and checked.on_project_database:
        create_tables(DATABASE_ALIAS, checked.settings.store, checked.schema)


class Migration(migrations.Migration):
    atomic = False
    initial = True

    operations = [
        migrations.RunPython(create_store_tables, migrations.RunPython.noop, elidable=False),
        migrations.CreateModel(
            name="MigratedRefreshToken",
            fields=[
                ("jti", models.CharField(max_length=255, primary_key=True, serialize=False)),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
        ),
    ]
