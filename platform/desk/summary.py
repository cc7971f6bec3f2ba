"""The handoff summary the agent reads first, built from the stored rows (no model).

Each line is labelled with whose words or which record it carries, and a message's text only
ever lands on its own role's line (on one line: newlines are folded), so the summary cannot
put the bot's words in the customer's mouth. This reads; `desk.services` writes it with the trip.
"""

from __future__ import annotations

from collections.abc import Sequence

from memory.conversations.models import Message

QUESTIONS = 3  # the customer's latest messages shown, oldest first
QUOTE_CHARS = 200
SOURCES = 5
TOPICS = 3
SENTIMENT_WINDOW = 3
SCAN = 200  # messages read back from the handoff point: a long chat costs one bounded read
# VADER's own cut-offs for its compound score (bots.topics.sentiment).
NEGATIVE, POSITIVE = -0.05, 0.05
TREND = 0.2  # a change between the first and last scored message in the window that counts

REASONS = {
    "customer_asked": "the customer asked for a person",
    "bot_offer": "the bot could not answer and offered a person; the customer said yes",
    "negative_sentiment": "the customer's latest messages read negative",
    "not_helpful": "the customer rated the bot's answers not helpful",
    "no_knowledge": "the bot found nothing relevant in the knowledge base",
    "agent_takeover": "an agent took the conversation over from the bot",
}


def handoff_summary(conversation_id: int, reason: str, up_to_seq: int) -> str:
    """The summary of the conversation up to `up_to_seq`, one labelled line per fact."""
    rows = list(
        Message.objects.filter(
            conversation_id=conversation_id,
            seq__lte=up_to_seq,
            role__in=[Message.Role.USER, Message.Role.BOT],
        )
        .exclude(status=Message.Status.STREAMING)
        .order_by("-seq")
        .only("role", "text", "status", "error", "sources", "topic", "sentiment")[:SCAN]
    )
    rows.reverse()
    customer = [m for m in rows if m.role == Message.Role.USER]
    said = [m for m in customer if m.text.strip()]
    answers = [m for m in rows if m.role == Message.Role.BOT and m.text.strip()]

    lines = [f"Customer asked: {_quote(m.text)}" for m in said[-QUESTIONS:]]
    if not lines:
        lines.append("Customer asked: nothing yet (no message before the handoff)")
    if answers:
        answer = answers[-1]
        lines.append(f"Bot answered: {_quote(answer.text)}{_answer_note(answer)}")
        lines.append(f"Sources: {_source_titles(answer) or 'none'}")
    else:
        lines.append("Bot answered: nothing yet")
    lines.append(f"Handed off because: {REASONS.get(reason, reason or 'not recorded')}")
    lines.append(f"Topic: {_topics([m.topic for m in customer if m.topic])}")
    lines.append(f"Sentiment: {_sentiment([m.sentiment for m in customer])}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    """The text on one line, cut at a word near QUOTE_CHARS, in quotes."""
    flat = " ".join(text.split())
    if len(flat) > QUOTE_CHARS:
        cut = flat[:QUOTE_CHARS]
        space = cut.rfind(" ")
        if space > QUOTE_CHARS * 3 // 4:
            cut = cut[:space]
        flat = cut.rstrip(" ,;:.") + "…"
    return f"“{flat}”"


def _answer_note(answer: Message) -> str:
    if answer.status == Message.Status.FAILED:
        return " (the reply failed: this is the fallback line)"
    if answer.error:
        return " (cut off when it was handed over)"
    return ""


def _source_titles(answer: Message) -> str:
    titles: list[str] = []
    for source in answer.sources or []:
        title = " ".join(str(source.get("title") or "").split()) if isinstance(source, dict) else ""
        if title and title not in titles:
            titles.append(title)
    shown = ", ".join(titles[:SOURCES])
    more = len(titles) - SOURCES
    return f"{shown} (+{more} more)" if more > 0 else shown


def _topics(topics: Sequence[str]) -> str:
    """The latest topic, then the ones before it (each once, most recent first)."""
    distinct: list[str] = []
    for topic in reversed(topics):
        if topic not in distinct:
            distinct.append(topic)
    if not distinct:
        return "not labelled yet"
    latest, earlier = distinct[0], distinct[1:TOPICS]
    return f"{latest} (earlier: {', '.join(earlier)})" if earlier else latest


def _sentiment(scores: Sequence[float | None]) -> str:
    """The mean of the customer's latest scored messages, and where it is heading."""
    window = [s for s in scores if s is not None][-SENTIMENT_WINDOW:]
    if not window:
        return "not measured yet"
    mean = sum(window) / len(window)
    mood = "negative" if mean <= NEGATIVE else "positive" if mean >= POSITIVE else "neutral"
    if len(window) == 1:
        return f"{mood} ({mean:+.2f}, one message)"
    change = window[-1] - window[0]
    trend = (
        "getting worse" if change <= -TREND else "getting better" if change >= TREND else "steady"
    )
    return f"{mood} ({mean:+.2f} over the last {len(window)} messages), {trend}"
