"""Keys and tokens: signing keys, JWKS, access tokens (JWT), refresh tokens."""
