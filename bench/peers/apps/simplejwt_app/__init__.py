"""djangorestframework-simplejwt as its docs set it up: DRF's
``JWTAuthentication`` on a protected view (HS256, the default; it checks the
user row, not revocation) and ``TokenRefreshView`` with
``ROTATE_REFRESH_TOKENS`` + ``BLACKLIST_AFTER_ROTATION`` (the token_blacklist
app), on PostgreSQL. Served by gunicorn, one sync worker."""
