"""Wait until the demo bot can answer as seeded: its help articles indexed, its topics trained.

`make run` (switchboard.supervisor) runs it after `seed_demo` and prints the URL once it
returns: on a first start the background worker needs a few minutes on two cores.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.models import Bot
from bots.topics.selectors import Training, training_progress
from desk.management.commands.seed_demo import DEMO_BOT, DEMO_ORGANIZATION
from memory.knowledge.selectors import ingestion_progress

BAR = 20
PLAIN_EVERY_S = 10.0  # without a terminal: one line this often, when something changed


def progress_line(settled: int, documents: int, training: Training) -> str:
    """`indexing help articles [#######.....] 41/77 · training topics 5120/10017 examples`."""
    filled = BAR * settled // documents if documents else BAR
    line = f"indexing help articles [{'#' * filled}{'.' * (BAR - filled)}] {settled}/{documents}"
    if training.trained:
        return f"{line} · topics trained" if training.examples else line
    if training.embedded < training.examples:
        return f"{line} · training topics {training.embedded}/{training.examples} examples"
    return f"{line} · training topics (fitting)"


class Command(BaseCommand):
    help = "Wait until the demo bot's knowledge is indexed and its topics trained (progress)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=600, help="Seconds; then exit 1.")
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between looks.")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = Bot.objects.filter(organization__slug=DEMO_ORGANIZATION, name=DEMO_BOT).first()
        if bot is None:
            raise CommandError("no demo bot: run seed_demo first")
        tty = self.stdout.isatty()
        deadline = time.monotonic() + options["timeout"]
        shown, shown_at = "", 0.0
        while True:
            settled, documents = ingestion_progress(bot)
            training = training_progress(bot)
            line = progress_line(settled, documents, training)
            ready = settled == documents and training.trained
            if tty:
                # One line, rewritten in place (padded over a longer previous one).
                self.stdout.write(f"\r  {line:<{len(shown)}}", ending="")
                self.stdout.flush()
                shown = line
            elif line != shown and (ready or time.monotonic() - shown_at >= PLAIN_EVERY_S):
                self.stdout.write(f"  {line}")
                self.stdout.flush()
                shown, shown_at = line, time.monotonic()
            if ready:
                if tty:
                    self.stdout.write("")
                return
            if time.monotonic() > deadline:
                if tty:
                    self.stdout.write("")
                raise CommandError(f"not ready after {options['timeout']:.0f} s: {line}")
            time.sleep(options["interval"])
