"""Verifier.from_env: the server named by the environment."""

from __future__ import annotations

from jwtwarden import Verifier


def test_from_env_without_credentials_checks_keys_only() -> None:
    verifier = Verifier.from_env({"JWTWARDEN_ISSUER": "https://auth.example.test/"})
    assert verifier.issuer == "https://auth.example.test"
    assert verifier.audience == "jwtwarden" and verifier.feed is None
    assert verifier.jwks is not None
    verifier.close()


def test_from_env_with_credentials_follows_the_feed() -> None:
    verifier = Verifier.from_env(
        {
            "JWTWARDEN_ISSUER": "http://127.0.0.1:9",
            "JWTWARDEN_AUDIENCE": "orders",
            "JWTWARDEN_CLIENT_ID": "rs_x",
            "JWTWARDEN_CLIENT_SECRET": "s",
        },
        max_staleness=3,
    )
    try:
        assert verifier.feed is not None and verifier.feed.url == "http://127.0.0.1:9/revocations"
        assert verifier.audience == "orders" and verifier.max_staleness == 3
        assert not verifier.is_fresh()  # nothing heard yet: fail closed
    finally:
        verifier.close()
