"""``manage.py create_api_token USER [--writer] [--rotate] [--create-user]``: a REST API token.

Prints the token alone on stdout (so ``TOKEN=$(manage.py create_api_token ci --writer)``
works); everything else goes to stderr.  An existing token is printed again
unless ``--rotate`` replaces it.  ``--writer`` adds the user to the group
``mlmd-writers``, which may write through the API.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from store.api.permissions import WRITERS_GROUP


class Command(BaseCommand):
    help = "Create (or show) a REST API token for a user; --writer lets the user write."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--writer", action="store_true", help=f"Add the user to the group {WRITERS_GROUP}.")
        parser.add_argument("--rotate", action="store_true", help="Replace an existing token with a new one.")
        parser.add_argument(
            "--create-user", action="store_true", help="Create the user (without a password) if it does not exist."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        username = options["username"]
        with transaction.atomic():
            user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
            if user is None:
                if not options["create_user"]:
                    raise CommandError(f"No user {username!r}; create it first or pass --create-user.")
                user = user_model.objects.create_user(**{user_model.USERNAME_FIELD: username})
                user.set_unusable_password()
                user.save()
                self.stderr.write(f"Created user {username!r}.")
            if not user.is_active:
                raise CommandError(f"User {username!r} is inactive; a token would not authenticate.")
            if options["writer"]:
                group, _ = Group.objects.get_or_create(name=WRITERS_GROUP)
                user.groups.add(group)
                self.stderr.write(f"{username!r} is in {WRITERS_GROUP} and may write.")
            if options["rotate"]:
                Token.objects.filter(user=user).delete()
            token, created = Token.objects.get_or_create(user=user)
        self.stderr.write(("Created a token" if created else "The existing token") + f" for {username!r}:")
        self.stdout.write(token.key)
