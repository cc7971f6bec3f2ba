"""Topics edited in the admin: examples get the topic's bot, and every change queues a retrain."""

from __future__ import annotations

import pytest
from django.test import Client

from bots.topics import training
from bots.topics.models import Example, Topic, TopicClassifier
from tests.conftest import make_bot

pytestmark = pytest.mark.django_db


def inline(examples: list[tuple[int | None, str, bool]], initial: int) -> dict[str, str]:
    data = {
        "examples-TOTAL_FORMS": str(len(examples)),
        "examples-INITIAL_FORMS": str(initial),
        "examples-MIN_NUM_FORMS": "0",
        "examples-MAX_NUM_FORMS": "1000",
    }
    for i, (pk, text, delete) in enumerate(examples):
        data[f"examples-{i}-text"] = text
        if pk is not None:
            data[f"examples-{i}-id"] = str(pk)
            data[f"examples-{i}-topic"] = ""
        if delete:
            data[f"examples-{i}-DELETE"] = "on"
    return data


def test_adding_and_removing_examples_in_the_admin_marks_the_classifier_for_retraining(
    admin_client: Client,
) -> None:
    bot = make_bot()
    response = admin_client.post(
        "/admin/topics/topic/add/",
        {
            "bot": str(bot.pk),
            "name": "card_arrival",
            "description": "",
            **inline([(None, "Where is my card?", False), (None, "Card not here yet", False)], 0),
        },
    )
    assert response.status_code == 302, response.content[:2000]
    topic = Topic.objects.get(bot=bot, name="card_arrival")
    # The topic's name is an example too.
    assert sorted(Example.objects.filter(bot=bot).values_list("text", flat=True)) == [
        "Card not here yet",
        "Where is my card?",
        "card arrival",
    ]
    assert TopicClassifier.objects.get(bot=bot).status == TopicClassifier.Status.PENDING

    training.train_topic_classifier(bot.pk)
    assert TopicClassifier.objects.get(bot=bot).status == TopicClassifier.Status.READY

    first, second = Example.objects.filter(topic=topic).exclude(text="card arrival").order_by("pk")
    response = admin_client.post(
        f"/admin/topics/topic/{topic.pk}/change/",
        {
            "bot": str(bot.pk),
            "name": "card_arrival",
            "description": "",
            **inline([(first.pk, first.text, False), (second.pk, second.text, True)], 2),
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert sorted(Example.objects.filter(topic=topic).values_list("text", flat=True)) == sorted(
        [first.text, "card arrival"]
    )
    assert TopicClassifier.objects.get(bot=bot).status == TopicClassifier.Status.PENDING
