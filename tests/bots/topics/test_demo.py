"""The demo bot is seeded with BANKING77's intents: quickly, and only once."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command

from bots.models import Bot
from bots.topics.demo import BANKING77
from bots.topics.models import Example, Topic, TopicClassifier

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not (BANKING77 / "train.csv").exists(), reason="no BANKING77 data"),
]


def test_seed_demo_adds_the_77_intents_once_and_leaves_training_to_the_worker() -> None:
    started = time.perf_counter()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first_run_s = time.perf_counter() - started
    bot = Bot.objects.get(organization__slug="demo")
    assert Topic.objects.filter(bot=bot).count() == 77
    examples = Example.objects.filter(bot=bot).count()
    assert examples > 9_900
    assert "77 intents" in out.getvalue()
    # Nothing was embedded inline: the worker does that when it trains.
    assert not Example.objects.filter(bot=bot, embedding__isnull=False).exists()
    assert TopicClassifier.objects.get(bot=bot).status == TopicClassifier.Status.PENDING
    assert first_run_s < 15

    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert Example.objects.filter(bot=bot).count() == examples
    assert "0 new examples (unchanged)" in out.getvalue()
