"""An SQLite file made by an older jwtwarden keeps working: opening it adds
the columns added since (``sqlite.py``, ``_ADDED_COLUMNS``) and keeps every
row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jwtwarden.stores.sqlite import SCHEMA_VERSION, SqliteStore
from tests.contract.test_store_contract import T, a_session, a_user

OLD_SCHEMA = Path(__file__).parent / "data" / "sqlite_schema_v2.sql"


async def test_a_schema_2_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA.read_text() + "\nPRAGMA user_version = 2;")
    conn.execute(
        "INSERT INTO users VALUES ('s1', 'alice', 'alice', 'h', '[]', ?, NULL, NULL, NULL)", (T,)
    )
    conn.execute(
        "INSERT INTO sessions VALUES ('sid1', 's1', 0, x'00', ?, ?, ?, NULL, NULL, NULL, "
        "NULL, NULL, 'jwtwarden')",
        (T, T + 100, T),
    )
    conn.commit()
    conn.close()

    store = SqliteStore(str(path))
    try:
        found = await store.get_session("sid1")
        assert found is not None and found[0].claims is None and found[1].username == "alice"
        assert found[0].jkt is None  # schema 5: an old session is not DPoP-bound
        user = a_user("bob")
        await store.create_user(user)
        session = a_session(user.sub, claims='{"t":1}', jkt="thumbprint")
        await store.create_session(session)
        again = await store.get_session(session.sid)
        assert again is not None and again[0].claims == '{"t":1}'
        assert again[0].jkt == "thumbprint"
    finally:
        await store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()
    # Opening it again (already upgraded) changes nothing.
    await SqliteStore(str(path)).close()
