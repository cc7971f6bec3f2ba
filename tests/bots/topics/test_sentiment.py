"""Sentiment with VADER: clear feelings get the right sign, plain questions stay near zero."""

from __future__ import annotations

from bots.topics.sentiment import sentiment_of


def test_an_angry_message_is_negative_and_a_grateful_one_positive() -> None:
    angry = sentiment_of("This is the worst service ever, I am furious and want my money back!")
    grateful = sentiment_of("Thank you so much, that was really helpful :)")
    assert angry <= -0.5
    assert grateful >= 0.5
    assert -1.0 <= angry < grateful <= 1.0


def test_a_plain_question_is_neutral_and_negation_flips_the_sign() -> None:
    assert abs(sentiment_of("What is the fee for a transfer to Spain?")) < 0.2
    assert sentiment_of("I am not happy with this") < 0 < sentiment_of("I am happy with this")
    assert sentiment_of("   ") == 0.0
