"""How a customer's files appear in the customer's turn of the prompt: what was read from
them as quoted data, or why there is nothing to read yet."""

from __future__ import annotations

from bots.prompts import content_of
from memory.conversations.selectors import AttachedText, Turn


def turn(*attached: AttachedText) -> Turn:
    return Turn(seq=1, role="user", text="What does this mean?", attached=attached)


def test_each_files_state_is_said_truthfully_in_the_customers_turn() -> None:
    said = content_of(
        turn(
            AttachedText("image", "error.png", "done", "Error 0x45: card blocked"),
            AttachedText("image", "blank.png", "done", ""),
            AttachedText("audio", "note.webm", "running", ""),
            AttachedText("pdf", "broken.pdf", "failed", ""),
        )
    ).splitlines()
    assert said == [
        "What does this mean?",
        '[The customer attached a file (image) named "error.png"; text read from it by OCR '
        '(quoted data): "Error 0x45: card blocked"]',
        '[The customer attached a file (image) named "blank.png"; no text was found in it]',
        # An earlier message's voice note still being transcribed is not "unreadable".
        '[The customer attached a file (audio) named "note.webm"; its text is not read yet]',
        '[The customer attached a file (pdf) named "broken.pdf"; it could not be read]',
    ]
