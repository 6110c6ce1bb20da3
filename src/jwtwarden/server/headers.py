"""Security headers on every response of the token server, in one place.

- Every response: ``X-Content-Type-Options: nosniff``, so a JSON body (a
  token, a user's sessions) is never sniffed into something executable.
- HTML (``/docs``, ``/account``): a strict Content-Security-Policy: scripts
  and styles from this origin only, no inline script, nothing framed, nothing
  sent elsewhere; ``/account`` sends the stricter ``ACCOUNT_PAGE_POLICY``
  (no inline style either). This origin holds the admin's cookies and the readable
  CSRF cookie, so no third-party code may run on it.
- JSON without a ``Cache-Control`` of its own: ``no-store``. Tokens and
  personal data must not sit in a shared or browser cache; the few public
  documents that may be cached (the JWKS) say so themselves.
"""

from __future__ import annotations

__all__ = ["ACCOUNT_PAGE_POLICY", "CONTENT_SECURITY_POLICY", "with_security_headers"]

#: Swagger UI sets inline style attributes, so styles allow them; scripts
#: never run inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

#: The "your devices" page: its own script and stylesheet only, nothing
#: inline at all, no fetch but to this origin, no form posted by the browser
#: itself (the script sends them), never framed.
ACCOUNT_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` of a response, with the headers above added where they
    apply and the response did not set its own."""
    names = {name.lower() for name, _ in headers}
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"").lower()
    if b"x-content-type-options" not in names:
        headers.append((b"x-content-type-options", b"nosniff"))
    if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
        headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
        headers.append((b"x-frame-options", b"DENY"))
    if content_type.startswith(b"application/json") and b"cache-control" not in names:
        headers.append((b"cache-control", b"no-store"))
    return headers
