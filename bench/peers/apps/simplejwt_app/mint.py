"""``python -m simplejwt_app.mint setup`` migrates the database and adds the
user; ``python -m simplejwt_app.mint access`` prints an access token;
``python -m simplejwt_app.mint refresh N`` prints N refresh tokens, each
outstanding in the token_blacklist tables as simplejwt records them."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simplejwt_app.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402


def user():  # type: ignore[no-untyped-def]
    found, _ = get_user_model().objects.get_or_create(username="bench")
    return found


def main(what: str, n: int = 1) -> None:
    if what == "setup":
        call_command("migrate", verbosity=0)
        user().set_unusable_password()
    elif what == "access":
        print(RefreshToken.for_user(user()).access_token)
    else:
        account = user()
        sys.stdout.write("".join(f"{RefreshToken.for_user(account)}\n" for _ in range(n)))


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
