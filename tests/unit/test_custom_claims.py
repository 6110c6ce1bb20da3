"""The custom-claims rule (``core/claims.py``): what an application may add
to its sessions' access tokens, and every way it is refused."""

from __future__ import annotations

import pytest

from jwtwarden.core.claims import MAX_CLAIMS_BYTES, RESERVED_CLAIMS, custom_claims, load_claims
from jwtwarden.errors import InvalidRequestError


def test_claims_are_kept_as_canonical_json() -> None:
    text = custom_claims({"b": [1, 2.5, None, True], "a": {"x": "y"}})
    assert text == '{"a":{"x":"y"},"b":[1,2.5,null,true]}'
    assert load_claims(text) == {"a": {"x": "y"}, "b": [1, 2.5, None, True]}
    assert custom_claims(None) is None and custom_claims({}) is None
    assert load_claims(None) == {}


@pytest.mark.parametrize("name", sorted(RESERVED_CLAIMS))
def test_every_reserved_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidRequestError, match="reserved"):
        custom_claims({name: "x"})


@pytest.mark.parametrize(
    "claims",
    [
        {"jwtwarden_auth_time": 1},
        {"JWTWarden_x": 1},
        {"": 1},
        {"a b": 1},
        {"x" * 65: 1},
        {1: 1},
        {"n": float("nan")},
        {"n": float("inf")},
        {"o": object()},
        {"o": {1: "x"}},
        {"deep": [[[[["x"]]]]]},
        {"big": "x" * MAX_CLAIMS_BYTES},
        {f"c{i}": i for i in range(33)},
        ["not", "a", "mapping"],
    ],
    ids=[
        "private", "private-case", "empty-name", "space", "long-name", "int-name", "nan",
        "inf", "object", "int-key", "too-deep", "too-big", "too-many", "list",
    ],
)  # fmt: skip
def test_bad_claims_are_refused(claims: object) -> None:
    with pytest.raises(InvalidRequestError):
        custom_claims(claims)  # type: ignore[arg-type]
