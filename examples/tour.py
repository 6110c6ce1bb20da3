"""The five-minute tour of the Python API (the README shows this file)."""

import asyncio

from jwtwarden import (
    RefreshTokenReusedError,
    SessionRevokedError,
    Settings,
    TokenService,
    Verifier,
)


async def main() -> None:
    # memory:// for the tour; the default is sqlite:///./jwtwarden.db
    service = await TokenService.open(Settings(store="memory://", refresh_grace=0))

    # Your users: your login view checked the password itself (your own
    # table, Django's authenticate, SSO), then starts a session for your own
    # user id. jwtwarden keeps no password for it.
    pair = await service.start_session("42", roles=["editor"], claims={"plan": "pro"})

    # Your resource server verifies the 5-minute access token locally. (In
    # production: Verifier.from_env(), keys from the JWKS URL and revocations
    # from the server's feed.)
    verifier = Verifier(
        issuer=service.policy.issuer, audience=service.policy.audience, keys=service.jwks()
    )
    claims = verifier.verify(pair.access_token)
    print("hello", claims.sub, claims.roles, claims.raw["plan"])

    # Rotation: the refresh token is good for one use.
    rotated = await service.refresh(pair.refresh_token)

    # A thief replays the spent token: the whole session dies, the
    # legitimate client's new tokens included.
    try:
        await service.refresh(pair.refresh_token)
    except RefreshTokenReusedError:
        print("reuse detected, session revoked")
    try:
        await service.verify(rotated.access_token)
    except SessionRevokedError:
        print("the child access token is dead too")

    # Or jwtwarden's own users, with argon2id passwords (POST /token too).
    alice = await service.create_user("alice", "correct horse battery", roles=["admin"])
    await service.login("alice", "correct horse battery", ip="203.0.113.7")

    # Precise revocation, for either kind: one token, one session, every
    # session, a ban.
    fresh = await service.start_session("42", roles=["editor"])
    await service.revoke_access_token(fresh.access_token)  # just this AT
    await service.logout_all("42")  # log out everywhere
    await service.ban(alice.sub, until=service.clock.now() + 3600)
    await service.close()


if __name__ == "__main__":
    asyncio.run(main())
