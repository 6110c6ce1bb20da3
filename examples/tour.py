"""The five-minute tour of the Python API (the README shows this file)."""

import asyncio

from jwtwarden import RefreshTokenReusedError, SessionRevokedError, Settings, TokenService


async def main() -> None:
    # memory:// for the tour; the default is sqlite:///./jwtwarden.db
    service = await TokenService.open(Settings(store="memory://", refresh_grace=0))
    alice = await service.create_user("alice", "correct horse battery", roles=["admin"])

    # Login: a 5-minute JWT access token and an opaque refresh token.
    pair = await service.login("alice", "correct horse battery", ip="203.0.113.7")
    claims = await service.verify(pair.access_token)
    print("hello", claims.sub == alice.sub, claims.roles)

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

    # Precise revocation: one token, one session, every session, a ban.
    fresh = await service.login("alice", "correct horse battery")
    await service.revoke_access_token(fresh.access_token)  # just this AT
    await service.logout_all(alice.sub)  # log out everywhere
    await service.ban(alice.sub, until=service.clock.now() + 3600)
    await service.close()


if __name__ == "__main__":
    asyncio.run(main())
