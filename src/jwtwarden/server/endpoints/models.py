"""Request and response bodies of the JSON endpoints; also the schemas of
the OpenAPI document. Unknown fields are refused; every field is bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ...core.inputs import MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH, MIN_PASSWORD_LENGTH
from ...core.sessions import Session
from ..devices import device_name

#: A role, as ``core.users`` accepts it.
Role = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
#: No control character or line/paragraph separator (lone surrogates cannot
#: arrive in UTF-8 JSON; core.inputs._PASSWORD_REFUSED).
_PASSWORD_TEXT = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"
#: No control character and no outer space (core.inputs.username; its
#: "printable" test also refuses format and unassigned characters, which no
#: pattern here spells out).
_USERNAME_TEXT = (
    r"^[^\s\u0000-\u001f\u007f-\u009f]"
    r"(?:[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*[^\s\u0000-\u001f\u007f-\u009f])?$"
)
#: A password being set: the server's bounds (core.inputs.new_password).
NewPassword = Annotated[
    str,
    Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH, pattern=_PASSWORD_TEXT),
]
#: A password presented to be checked (core.inputs.presented_password).
Password = Annotated[
    str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH, pattern=_PASSWORD_TEXT)
]
#: A username (core.inputs.username).
Username = Annotated[
    str, Field(min_length=1, max_length=MAX_USERNAME_LENGTH, pattern=_USERNAME_TEXT)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1024)


class PasswordChange(Strict):
    current_password: Password
    new_password: NewPassword


class NewUser(Strict):
    username: Username
    password: NewPassword
    roles: list[Role] = Field(default_factory=list, max_length=32)


class Roles(Strict):
    roles: list[Role] = Field(max_length=32)


class Ban(Strict):
    until: datetime = Field(description="RFC 3339 instant, with a time zone.")


class Login(Strict):
    username: Username
    password: Password


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
