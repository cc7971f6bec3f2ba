"""Demo desk: an agent and an admin of the demo organization, canned replies, a handoff policy.

The passwords are public (README): the logins are made only in demo mode (SWITCHBOARD_DEMO,
set by `make run`), and said loudly; they are set only when the users are first created.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User

from accounts.models import Membership, Organization
from bots.models import Bot
from desk.models import CannedResponse, HandoffPolicy

DEMO_USERS = [
    ("demo-agent", "demo-agent-pass", "Alex", Membership.Role.AGENT),
    ("demo-admin", "demo-admin-pass", "Sam", Membership.Role.ADMIN),
]
CANNED = [
    ("Greeting", "Hi, this is Acme Bank support. I'm reading your conversation now."),
    (
        "Card frozen",
        "I've checked your card: it is active again. Please try the payment once more.",
    ),
    ("Closing", "Is there anything else I can help you with today?"),
]


DEMO_WARNING = (
    "\n  !!! DEMO MODE: console logins with PUBLIC passwords exist: {logins}.\n"
    "  !!! Anyone who can reach this server can log in as them. Never expose it;\n"
    "  !!! run without SWITCHBOARD_DEMO and delete these users before going live.\n"
)


def seed_demo_desk(org: Organization, bot: Bot) -> str:
    for title, text in CANNED:
        CannedResponse.objects.get_or_create(organization=org, title=title, defaults={"text": text})
    HandoffPolicy.objects.get_or_create(bot=bot)
    if not settings.DEMO:
        return "no demo console logins (demo mode is off: SWITCHBOARD_DEMO)"
    for username, password, first_name, role in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username, password=password, first_name=first_name)
        Membership.objects.update_or_create(user=user, organization=org, defaults={"role": role})
    logins = ", ".join(f"{u} / {p}" for u, p, _, _ in DEMO_USERS)
    return DEMO_WARNING.format(logins=logins)
