"""The input policy (core/inputs.py), rule by rule, with no store."""

from __future__ import annotations

import pytest

from jwtwarden.core import inputs
from jwtwarden.errors import InvalidRequestError


@pytest.mark.parametrize(
    "name",
    [
        "",
        " alice",
        "alice ",
        "al\x00ice",
        "al\nice",
        "al\x1bice",
        "al\u2028ice",
        "al\u202eice",
        "al\ud800",
        "al\u00a0ice",
        "a" * 151,
        42,
    ],
    ids=[
        "empty",
        "lead-space",
        "trail-space",
        "nul",
        "lf",
        "esc",
        "u2028",
        "bidi-override",
        "surrogate",
        "nbsp",
        "too-long",
        "not-a-string",
    ],
)
def test_a_username_no_account_can_have_is_refused(name: object) -> None:
    with pytest.raises(InvalidRequestError):
        inputs.username(name)


@pytest.mark.parametrize("name", ["alice", "Alice Smith", "ａｌｉｃｅ", "zoë", "a" * 150, "李"])
def test_ordinary_usernames_pass_as_typed(name: str) -> None:
    assert inputs.username(name) == name


@pytest.mark.parametrize(
    "password",
    [
        "pass\x00word",
        "pass\rword",
        "pass\tword",
        "pass\x1bword",
        "pass\x7fword",
        "pass\x85word",
        "pass\u2028word",
        "pass\ud800word",
        "x" * 1025,
    ],
)
def test_a_password_with_a_control_character_is_refused_presented_or_new(password: str) -> None:
    with pytest.raises(InvalidRequestError):
        inputs.presented_password(password)
    with pytest.raises(InvalidRequestError):
        inputs.new_password(password)


def test_passwords_may_hold_any_printable_character_and_normalise_to_nfkc() -> None:
    assert inputs.new_password("ﬁancé ☃ \u200d 😀") == "ﬁancé ☃ \u200d 😀"
    assert inputs.normalize_password("ﬁancé") == "fiancé"
    assert inputs.presented_password("x") == "x"
    with pytest.raises(InvalidRequestError):
        inputs.new_password("short")


@pytest.mark.parametrize("value", ["rs_abc-DEF_123", "a" * 64])
def test_identifier_shapes_accept_what_the_server_mints(value: str) -> None:
    assert inputs.is_client_id(value) and inputs.is_sid(value) and inputs.is_sub(value)


@pytest.mark.parametrize("value", ["", "a\x00", "a b", "a" * 129, "é", None, 7])
def test_identifier_shapes_refuse_the_rest(value: object) -> None:
    assert not inputs.is_client_id(value) and not inputs.is_sid(value)
    assert not inputs.is_sub(value)


def test_client_secrets_and_oauth_client_ids_are_printable_ascii() -> None:
    assert inputs.is_client_secret_shape("s3cr3t-_~")
    assert not inputs.is_client_secret_shape("s\x00") and not inputs.is_client_secret_shape("")
    assert inputs.oauth_client_id("my-app") == "my-app"
    for bad in ("", "a\x00", "a b", "x" * 129):
        with pytest.raises(InvalidRequestError):
            inputs.oauth_client_id(bad)


def test_free_text_is_cleaned_never_refused() -> None:
    assert (
        inputs.clean_text("Mozilla\x00/5.0\r\n\u2028\u202e") == "Mozilla\ufffd/5.0" + "\ufffd" * 4
    )
    assert inputs.clean_text("e\u0301") == "é"
    assert inputs.clean_text("x" * 5000) == "x" * 512
    assert inputs.clean_text("") is None and inputs.clean_text(None) is None


def test_ip_addresses_are_canonical_or_dropped() -> None:
    assert inputs.client_ip_text("2001:DB8:0:0::1") == "2001:db8::1"
    assert inputs.client_ip_text("192.0.2.1") == "192.0.2.1"
    for bad in ("", "localhost", "192.0.2.1\n", "1" * 100, None):
        assert inputs.client_ip_text(bad) is None
