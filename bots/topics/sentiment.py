"""Sentiment of a customer message: VADER's compound score, -1 (negative) … 1 (positive).

VADER is a lexicon and rules (pure Python, no model): it handles negation, intensifiers,
capitals, punctuation and emoticons, which is what short chat messages are made of.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_of(text: str) -> float:
    """The compound polarity, rounded to 4 places; 0.0 for neutral or empty text."""
    if not text.strip():
        return 0.0
    return round(float(_analyzer().polarity_scores(text)["compound"]), 4)
