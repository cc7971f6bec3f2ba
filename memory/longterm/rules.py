"""Deterministic extraction of the common facts a customer states: name, language, channel, plan.

Patterns only fire on a statement about the customer ("my name is Ana", "please answer in
French", "email me", "I'm on the Premium plan"), never on a question about the topic ("how do
I change my name?", "can I get the card by email?"). Pure functions, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LANGUAGES = {
    "english": "English",
    "french": "French",
    "français": "French",
    "francais": "French",
    "spanish": "Spanish",
    "español": "Spanish",
    "espanol": "Spanish",
    "german": "German",
    "deutsch": "German",
    "portuguese": "Portuguese",
    "português": "Portuguese",
    "portugues": "Portuguese",
    "italian": "Italian",
    "italiano": "Italian",
    "dutch": "Dutch",
    "nederlands": "Dutch",
    "polish": "Polish",
    "polski": "Polish",
    "swedish": "Swedish",
    "danish": "Danish",
    "norwegian": "Norwegian",
    "finnish": "Finnish",
    "greek": "Greek",
    "turkish": "Turkish",
    "russian": "Russian",
    "ukrainian": "Ukrainian",
    "romanian": "Romanian",
    "czech": "Czech",
    "hungarian": "Hungarian",
    "arabic": "Arabic",
    "hindi": "Hindi",
    "chinese": "Chinese",
    "mandarin": "Chinese",
    "japanese": "Japanese",
    "korean": "Korean",
}
LANGUAGE_CODES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "de": "German",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "el": "Greek",
    "tr": "Turkish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "ro": "Romanian",
    "cs": "Czech",
    "hu": "Hungarian",
    "ar": "Arabic",
    "hi": "Hindi",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
}
CHANNELS = {
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "phone": "phone",
    "telephone": "phone",
    "call": "phone",
    "sms": "sms",
    "text": "sms",
    "texts": "sms",
    "text message": "sms",
    "whatsapp": "whatsapp",
    "chat": "chat",
}
PLANS = ("basic", "standard", "plus", "premium", "metal", "business", "pro", "gold", "platinum")
CARDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express"}

_LANG = "|".join(sorted(map(re.escape, LANGUAGES), key=len, reverse=True))
_CHANNEL = "|".join(sorted(map(re.escape, CHANNELS), key=len, reverse=True))
_PLAN = "|".join(PLANS)
# A question ("how do I …", "can I …", "?") asks about a topic; it states nothing.
_QUESTION = re.compile(
    r"^\s*(how|what|why|when|where|which|who|can|could|may|do|does|did|is|are|will|would|should)\b"
    r"|\?\s*$",
    re.IGNORECASE,
)
# Sentences, and clauses that start a question ("I upgraded, where is my card?").
_SENTENCE_BREAK = re.compile(
    r"(?<=[.!?])\s+|\n+|[,;]\s+(?=(?:how|what|why|when|where|which|who|can|could|do|does|is|are)\b)",
    re.IGNORECASE,
)
_NAME_WORD = r"[A-Z][a-zà-ÿ'-]+"
_NAME = [
    re.compile(rf"\b[Mm]y name is ({_NAME_WORD}(?: {_NAME_WORD})?)"),
    re.compile(rf"\b(?:[Cc]all me|[Ii]t's|[Tt]his is) ({_NAME_WORD})(?: here| speaking)\b"),
    re.compile(rf"\b[Pp]lease call me ({_NAME_WORD})\b"),
    re.compile(rf"^(?:[Hh]i|[Hh]ello|[Hh]ey),? (?:I'm|I am|it's) ({_NAME_WORD})\b[,.!]"),
]
_NOT_NAMES = {"Sorry", "Not", "Just", "Still", "Really", "Very", "So", "Here", "Trying"}
_LANGUAGE = [
    re.compile(
        rf"\b(?:answer|reply|respond|write|talk|speak|help)(?: to me| me)? "
        rf"(?:only )?in ({_LANG})\b",
        re.IGNORECASE,
    ),
    re.compile(rf"\bmy (?:preferred |first |native )?language is ({_LANG})\b", re.IGNORECASE),
    re.compile(rf"\bI (?:only |mostly )?(?:speak|prefer|read) ({_LANG})\b", re.IGNORECASE),
    re.compile(rf"\bin ({_LANG}),? please\b", re.IGNORECASE),
]
_CHANNEL_RULES = [
    re.compile(
        rf"\b(?:contact|reach|update|notify|get back to|answer) me (?:by|via|over|on|through|per) "
        rf"({_CHANNEL})\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bI(?:'d| would)? prefer (?:to be contacted |being contacted |a |an |to talk )?"
        rf"(?:by |via |on |over )?({_CHANNEL})\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(email|text|call) me\b(?! (?:a|the|my|your)\b)", re.IGNORECASE),
    re.compile(rf"\bmy preferred (?:contact )?(?:channel|method) is ({_CHANNEL})\b", re.IGNORECASE),
]
_PLAN_RULES = [
    re.compile(
        rf"\bI(?:'m| am)(?: currently| still)? on (?:the|a|your) ({_PLAN}) "
        r"(?:plan|account|tier|subscription)\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b(?:I have|I've got|I own|I pay for) (?:the|a|an) ({_PLAN}) "
        r"(?:plan|account|tier|subscription)\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bmy ({_PLAN}) (?:plan|account|tier|subscription)\b(?! (?:options?|costs?|prices?))",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\bI (?:just |recently )?(?:upgraded|downgraded|switched|moved|changed) to "
        rf"(?:the |a )?({_PLAN})\b",
        re.IGNORECASE,
    ),
]
_CARD_RULES = [
    re.compile(r"\bmy (visa|mastercard|amex)\b", re.IGNORECASE),
    re.compile(r"\bI (?:have|use|got) an? (visa|mastercard|amex)\b", re.IGNORECASE),
]


@dataclass(frozen=True)
class Fact:
    """One thing stated: a preference (`language`, `name`, `channel`) or a fact (`plan`, `card`)."""

    key: str
    value: str
    is_preference: bool

    @property
    def text(self) -> str:
        return fact_text(self.key, self.value)


def fact_text(key: str, value: str) -> str:
    labels = {
        "plan": "Plan",
        "card": "Card",
        "city": "Lives in",
        "employer": "Works for",
        "language": "Language",
        "name": "Name",
        "channel": "Preferred contact channel",
    }
    return f"{labels.get(key, key.replace('_', ' ').capitalize())}: {value}"


def language_name(value: str) -> str | None:
    """'fr', 'french', 'Français' → 'French'; None for anything else."""
    word = value.strip().lower()
    return LANGUAGES.get(word) or LANGUAGE_CODES.get(word.split("-")[0] if word else "")


def channel_name(value: str) -> str | None:
    return CHANNELS.get(value.strip().lower())


def _first(patterns: list[re.Pattern[str]], text: str) -> str | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


def extract_facts(text: str) -> list[Fact]:
    """The name, language, contact channel, plan and card a message states, if any."""
    facts: list[Fact] = []
    sentences = [s for s in _SENTENCE_BREAK.split(text) if s and s.strip()]
    for sentence in sentences:
        if _QUESTION.search(sentence):
            continue
        name = _first(_NAME, sentence)
        if name and name.split()[0] not in _NOT_NAMES and not language_name(name):
            facts.append(Fact("name", name, True))
        language = _first(_LANGUAGE, sentence)
        if language:
            facts.append(Fact("language", LANGUAGES[language.lower()], True))
        channel = _first(_CHANNEL_RULES, sentence)
        if channel:
            facts.append(Fact("channel", CHANNELS[channel.lower()], True))
        plan = _first(_PLAN_RULES, sentence)
        if plan:
            facts.append(Fact("plan", plan.capitalize(), False))
        card = _first(_CARD_RULES, sentence)
        if card:
            facts.append(Fact("card", CARDS[card.lower()], False))
    # The last statement of each key wins ("I was on Basic, now I'm on the Premium plan").
    latest = {fact.key: fact for fact in facts}
    return list(latest.values())
