"""Create (or update) the demo organization, its bot and widget key. Safe to run again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import Organization
from bots.demo.knowledge import seed_demo_knowledge
from bots.models import Bot, WidgetKey
from bots.topics.demo import BANKING77, banking77_topics, seed_demo_topics
from desk.demo import seed_demo_desk

DEMO_ORGANIZATION = "demo"  # its slug
DEMO_BOT = "Acme Bank assistant"
DEMO_PERSONA = (
    "You are the support assistant of Acme Bank. Answer customers' questions about their "
    "cards, transfers, top-ups and accounts briefly and politely. Never ask for a full card "
    "number or a password. If you are not sure, say so and offer to connect a person."
)


class Command(BaseCommand):
    help = "Create the demo organization, bot and widget key (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="An origin allowed to embed the demo widget (repeatable).",
        )
        parser.add_argument(
            "--banking77",
            type=Path,
            default=BANKING77,
            help="Folder with BANKING77's train.csv: the demo bot's topics and their examples.",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        org, _ = Organization.objects.get_or_create(
            slug=DEMO_ORGANIZATION, defaults={"name": "Acme Bank (demo)"}
        )
        bot, _ = Bot.objects.get_or_create(
            organization=org,
            name=DEMO_BOT,
            defaults={
                "persona": DEMO_PERSONA,
                "greeting": "Hi! I'm Acme Bank's assistant. How can I help?",
            },
        )
        key = WidgetKey.objects.filter(bot=bot, revoked=False).order_by("pk").first()
        if key is None:
            key = WidgetKey.objects.create(bot=bot)
        origins = list(dict.fromkeys([*key.allowed_origins, *options["origin"]]))
        if origins != key.allowed_origins:
            key.allowed_origins = origins
            key.save(update_fields=["allowed_origins"])
        self.stdout.write(seed_demo_topics(bot, options["banking77"]))
        train = options["banking77"] / "train.csv"
        examples = banking77_topics(options["banking77"]) if train.exists() else {}
        self.stdout.write(seed_demo_knowledge(bot, examples))
        self.stdout.write(seed_demo_desk(org, bot))
        self.stdout.write(
            f"demo bot {bot.pk}, widget key {key.key}, origins {', '.join(origins) or '-'}"
        )
