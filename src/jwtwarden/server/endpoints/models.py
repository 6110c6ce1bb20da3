"""Request and response bodies of the JSON endpoints; also the schemas of
the OpenAPI document. Unknown fields are refused; every field is bounded."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from ...core.sessions import Session
from ..devices import device_name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1024)


class PasswordChange(Strict):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class NewUser(Strict):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(max_length=1024)
    roles: list[str] = Field(default_factory=list, max_length=32)


class Roles(Strict):
    roles: list[str] = Field(max_length=32)


class Ban(Strict):
    until: datetime = Field(description="RFC 3339 instant, with a time zone.")


class Login(Strict):
    username: str = Field(max_length=600)
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    sub: str
    username: str
    roles: list[str]


class SessionOut(BaseModel):
    sid: str
    created_at: str
    last_used_at: str
    expires_at: str
    ip: str | None
    user_agent: str | None
    #: The user agent as a person reads it ("Chrome on Linux").
    device: str
    current: bool

    @classmethod
    def of(cls, session: Session, current_sid: str | None) -> SessionOut:
        return cls(
            sid=session.sid,
            created_at=rfc3339(session.auth_time),
            last_used_at=rfc3339(session.last_used_at),
            expires_at=rfc3339(session.expires_at),
            ip=session.ip,
            user_agent=session.user_agent,
            device=device_name(session.user_agent),
            current=session.sid == current_sid,
        )


class Error(BaseModel):
    error: str
    error_description: str


def rfc3339(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat().replace("+00:00", "Z")
