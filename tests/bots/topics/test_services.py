"""Topics on real Postgres/pgvector with the real all-MiniLM-L6-v2, trained and labelled here."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from bots.models import Bot
from bots.topics import classifier, labelling, services, training
from bots.topics.demo import BANKING77, banking77_topics
from bots.topics.models import Example, TopicClassifier
from memory.conversations.models import Message
from memory.conversations.services import open_conversation, record_user_message
from memory.embeddings import embed
from tests.conftest import make_bot, new_visitor_id

pytestmark = pytest.mark.django_db

BANK_TOPICS = {
    "card_arrival": [
        "My card hasn't arrived yet",
        "When will my new card be delivered?",
        "I'm still waiting for my card in the mail",
        "How long does card delivery take?",
    ],
    "lost_or_stolen_card": [
        "I lost my card",
        "My card was stolen",
        "I can't find my card anywhere",
        "Someone took my wallet with my card in it",
    ],
    "refund": [
        "I want my money back for this order",
        "How do I get a refund?",
        "Please refund my purchase",
        "The merchant hasn't reimbursed me yet",
    ],
}


def seed(bot: Bot, topics: dict[str, list[str]]) -> None:
    for name, examples in topics.items():
        services.add_topic(bot, name, examples)
    training.train_topic_classifier(bot.pk)


def customer_says(bot: Bot, text: str) -> Message:
    conversation = open_conversation(bot, new_visitor_id())
    message, _ = record_user_message(conversation, new_visitor_id(), text)
    labelled = labelling.label_message(message.pk)
    assert labelled is not None
    message.refresh_from_db()
    return message


def test_new_messages_get_the_topic_their_meaning_matches_with_a_confidence() -> None:
    bot = make_bot()
    seed(bot, BANK_TOPICS)
    classifier = TopicClassifier.objects.get(bot=bot)
    assert classifier.status == TopicClassifier.Status.READY
    assert classifier.topic_names == sorted(BANK_TOPICS)
    assert not Example.objects.filter(bot=bot, embedding__isnull=True).exists()

    cases = {
        "it's been two weeks and the card still hasn't come": "card_arrival",
        "help, somebody stole my card yesterday": "lost_or_stolen_card",
        "I returned the item, when do I get reimbursed?": "refund",
    }
    for text, topic in cases.items():
        message = customer_says(bot, text)
        assert message.topic == topic, text
        assert message.topic_confidence is not None and 0.4 < message.topic_confidence <= 1.0


def test_changing_examples_retrains_and_new_topics_are_used() -> None:
    bot = make_bot()
    seed(bot, BANK_TOPICS)
    question = "Can I pay with Apple Pay on my phone?"
    assert customer_says(bot, question).topic != "apple_pay"
    first = TopicClassifier.objects.get(bot=bot)

    services.add_topic(
        bot,
        "apple_pay",
        ["Does Apple Pay work with my card?", "How do I add my card to Apple Pay?"],
    )
    # Until the retrain lands the old model is stale and no longer used.
    assert TopicClassifier.objects.get(bot=bot).status == TopicClassifier.Status.PENDING
    training.train_topic_classifier(bot.pk)
    retrained = TopicClassifier.objects.get(bot=bot)
    assert retrained.status == TopicClassifier.Status.READY
    assert retrained.fingerprint != first.fingerprint
    assert "apple_pay" in retrained.topic_names
    assert customer_says(bot, question).topic == "apple_pay"

    topic = bot.topics.get(name="apple_pay")
    services.delete_topic(topic)
    training.train_topic_classifier(bot.pk)
    assert customer_says(bot, question).topic != "apple_pay"


def test_training_twice_on_the_same_examples_keeps_the_stored_model() -> None:
    bot = make_bot()
    seed(bot, BANK_TOPICS)
    before = TopicClassifier.objects.get(bot=bot)
    training.train_topic_classifier(bot.pk)
    after = TopicClassifier.objects.get(bot=bot)
    assert (after.trained_at, after.fingerprint) == (before.trained_at, before.fingerprint)


def test_another_bots_topics_never_label_this_bots_messages() -> None:
    text = "My card was declined at the supermarket"
    ours, theirs = make_bot(), make_bot()
    seed(ours, BANK_TOPICS)
    # The other bot has a topic whose example is exactly the customer's words.
    seed(theirs, {"declined_payment": [text], "top_up": ["How do I top up?"]})

    message = customer_says(ours, text)
    assert message.topic in BANK_TOPICS
    assert customer_says(theirs, text).topic == "declined_payment"


def test_a_bot_without_topics_still_gets_sentiment_but_no_topic() -> None:
    message = customer_says(make_bot(), "This is useless, I am really angry")
    assert message.topic == "" and message.topic_confidence is None
    assert message.sentiment is not None and message.sentiment < -0.5


@pytest.mark.slow
@pytest.mark.skipif(not (BANKING77 / "test.csv").exists(), reason="no BANKING77 data")
def test_labels_stored_through_pgvector_match_the_classifier_the_bench_measures() -> None:
    train = banking77_topics(BANKING77)
    intents = sorted(train)[:12]
    bot = make_bot()
    seed(bot, {name: train[name][:8] for name in intents})
    with (BANKING77 / "test.csv").open(newline="") as handle:
        queries = [r["text"] for r in csv.DictReader(handle) if r["category"] in intents][::10]

    examples = list(
        Example.objects.filter(bot=bot).order_by("pk").values_list("embedding", "topic__name")
    )
    vectors = np.asarray([vector for vector, _ in examples], dtype=np.float32)
    names = [name for _, name in examples]
    # One at a time, as the worker embeds a customer's message: in bfloat16 a vector also
    # depends on what else shares its batch (within cosine ~0.999).
    query_vectors = np.concatenate([embed([query]) for query in queries])
    expected = classifier.classify(
        classifier.fit(vectors, names),
        query_vectors,
        *classifier.nearest(vectors, names, query_vectors),
    )
    for text, bench_label in zip(queries, expected, strict=True):
        assert bench_label is not None
        message = customer_says(bot, text)
        assert message.topic == bench_label.topic, text
        assert message.topic_confidence == pytest.approx(bench_label.confidence, abs=2e-3)
