"""A human name for the device behind a User-Agent ("Chrome on Linux"), for
the "your devices" page. Parsed by ``ua-parser`` (the maintained uap-core
rules), never by regexes of our own."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse

__all__ = ["device_name"]

#: What ua-parser calls a browser or system it does not know.
_UNKNOWN = {"", "Other"}


@lru_cache(maxsize=4096)
def device_name(user_agent: str | None) -> str:
    """``"<browser> on <system>"``, the part that is known, or ``"Unknown
    device"``. Cached: a user agent is parsed once per process (the stored
    strings are already bounded by ``core.inputs.clean_text``)."""
    if not user_agent:
        return "Unknown device"
    found = parse(user_agent)
    browser = found.user_agent.family if found.user_agent else ""
    system = found.os.family if found.os else ""
    browser = "" if browser in _UNKNOWN else browser
    system = "" if system in _UNKNOWN else system
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"
