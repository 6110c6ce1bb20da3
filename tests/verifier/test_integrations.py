"""Every integration (plain ASGI inside Starlette, FastAPI, Django, Flask)
answers the same way inside its real framework: the claims for a valid
token, 401 with the Bearer challenge for a missing, expired, forged,
foreign or revoked one, 403 for a missing role, 503 with Retry-After when
the resource server cannot judge tokens (stale revocations, unreachable
keys); the Bearer header wins over the access cookie."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jwtwarden.verifier.credentials import ACCESS_COOKIE, ACCESS_COOKIE_INSECURE

from .apps import CLIENTS, Answer, Get
from .conftest import Minted


@pytest.fixture(params=sorted(CLIENTS))
def get(request: pytest.FixtureRequest, minted: Minted) -> Get:
    return CLIENTS[request.param](minted.verifier)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def assert_refused(answer: Answer, status: int = 401, code: str = "invalid_token") -> None:
    assert answer.status == status, answer
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and f'error="{code}"' in challenge
    assert answer.headers["cache-control"] == "no-store"


def test_a_valid_token_reaches_the_view_with_its_claims(get: Get, minted: Minted) -> None:
    answer = get("/me", bearer(minted.alice))
    assert answer.status == 200
    assert answer.body == {"sub": minted.verifier.verify(minted.alice).sub, "roles": ["user"]}


def test_no_token_is_401_with_the_bearer_challenge(get: Get) -> None:
    answer = get("/me", {})
    assert_refused(answer)
    assert answer.body["error"] == "invalid_token"


Bad = Callable[[Minted], dict[str, str]]
BAD_TOKENS: list[tuple[str, Bad]] = [
    ("forged", lambda m: bearer(m.forged())),
    ("foreign-key", lambda m: bearer(m.foreign)),
    ("garbage", lambda m: bearer("not.a.token")),
    ("not-bearer", lambda m: {"authorization": f"Basic {m.alice}"}),
]


@pytest.mark.parametrize("headers", [b for _, b in BAD_TOKENS], ids=[n for n, _ in BAD_TOKENS])
def test_a_bad_token_is_401(get: Get, minted: Minted, headers: Bad) -> None:
    assert_refused(get("/me", headers(minted)))


def test_an_expired_token_is_401(get: Get, minted: Minted) -> None:
    assert get("/me", bearer(minted.alice)).status == 200
    minted.expire()
    answer = get("/me", bearer(minted.alice))
    assert_refused(answer)
    assert "expired" in answer.headers["www-authenticate"]


def test_a_revoked_token_is_401_even_after_it_was_accepted(get: Get, minted: Minted) -> None:
    assert get("/me", bearer(minted.alice)).status == 200
    minted.deny(minted.alice)
    answer = get("/me", bearer(minted.alice))
    assert_refused(answer)
    assert "revoked" in answer.headers["www-authenticate"]


def test_a_missing_role_is_403_insufficient_scope(get: Get, minted: Minted) -> None:
    answer = get("/admin/", bearer(minted.alice))
    assert_refused(answer, 403, "insufficient_scope")
    assert answer.body["error"] == "insufficient_scope"


def test_the_role_holder_reaches_the_role_protected_view(get: Get, minted: Minted) -> None:
    answer = get("/admin/", bearer(minted.root))
    assert answer.status == 200 and answer.body["roles"] == ["admin"]


def test_the_access_cookie_is_accepted(get: Get, minted: Minted) -> None:
    answer = get("/me", {"cookie": f"theme=dark; {ACCESS_COOKIE}={minted.alice}"})
    assert answer.status == 200 and answer.body["roles"] == ["user"]


def test_the_insecure_cookie_name_is_refused_unless_configured(get: Get, minted: Minted) -> None:
    assert_refused(get("/me", {"cookie": f"{ACCESS_COOKIE_INSECURE}={minted.alice}"}))


def test_the_bearer_header_wins_over_the_cookie(get: Get, minted: Minted) -> None:
    headers = {**bearer(minted.alice), "cookie": f"{ACCESS_COOKIE}={minted.root}"}
    assert_refused(get("/admin/", headers), 403, "insufficient_scope")
    headers = {**bearer(minted.root), "cookie": f"{ACCESS_COOKIE}={minted.alice}"}
    assert get("/admin/", headers).body["roles"] == ["admin"]


def test_a_public_route_needs_no_token(get: Get) -> None:
    answer = get("/public", {})
    assert answer.status == 200 and answer.body["public"] is True


def assert_unavailable(answer: Answer) -> None:
    """503 with Retry-After and no Bearer challenge: nothing tells the client
    its token is bad, so it keeps it and retries."""
    assert answer.status == 503, answer
    assert int(answer.headers["retry-after"]) >= 1
    assert "www-authenticate" not in answer.headers
    assert answer.body["error"] == "temporarily_unavailable"


def stale(minted: Minted) -> None:
    from jwtwarden.verifier.feed import RevocationFeed

    # A feed that has heard nothing (never started): past any max_staleness.
    minted.verifier.feed = RevocationFeed(
        "http://127.0.0.1:9/revocations", client_id="x", client_secret="y", view=minted.view
    )


def test_stale_revocations_are_503_with_retry_after_never_401(get: Get, minted: Minted) -> None:
    stale(minted)
    assert_unavailable(get("/me", bearer(minted.alice)))
    assert minted.verifier.feed is not None
    minted.verifier.feed.fresh_at = float("inf")
    assert get("/me", bearer(minted.alice)).status == 200


@pytest.mark.parametrize("path", ["/drf/me", "/drf/admin"])
def test_drf_answers_503_with_retry_after_too(minted: Minted, path: str) -> None:
    from .apps import django_client

    stale(minted)
    answer = django_client(minted.verifier)(path, bearer(minted.root))
    # DRF's own body shape ({"detail"}), as for its 401s; the status and
    # Retry-After (from the exception's ``wait``) are what clients act on.
    assert answer.status == 503 and int(answer.headers["retry-after"]) >= 1
    assert "www-authenticate" not in answer.headers and answer.body["detail"]


def test_unreachable_keys_are_503_and_a_bad_token_stays_401(minted: Minted) -> None:
    import httpx

    from jwtwarden import Verifier

    from .conftest import ISSUER

    down = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(502)))
    verifier = Verifier(
        issuer=ISSUER,
        audience="jwtwarden",
        jwks_url=ISSUER + "/.well-known/jwks.json",
        http_client=down,
        clock=minted.clock,
    )
    for name in sorted(CLIENTS):
        get = CLIENTS[name](verifier)
        assert_unavailable(get("/me", bearer(minted.alice)))
        assert_refused(get("/me", bearer("not.a.token")))
    assert not verifier.is_fresh()
