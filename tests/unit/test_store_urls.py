"""open_store: every URL scheme, and clear errors for bad ones."""

from __future__ import annotations

import pytest

from jwtwarden import ConfigurationError, open_store


@pytest.mark.parametrize(
    "url,message",
    [
        ("sqlite:///:memory:", "memory://"),
        ("sqlite://", "sqlite:///"),
        ("mysql://localhost/db", "unknown store URL scheme"),
        ("", "unknown store URL scheme"),
    ],
)
def test_bad_store_urls_are_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        open_store(url)
