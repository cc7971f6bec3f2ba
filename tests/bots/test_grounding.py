"""The reply guard between an engine and the customer, fed as an engine feeds it."""

from __future__ import annotations

from bots.grounding import ReplyGuard


def test_an_empty_piece_from_an_engine_waiting_for_its_batch_sends_nothing_and_breaks_nothing() -> (
    None
):
    # The shared scheduler yields "" while a reply waits for a place in the batch
    # (bots/engines/scheduler.py), before and between real pieces.
    guard = ReplyGuard(max_words=50)
    sent = [guard.feed(""), guard.feed("Your card "), guard.feed(""), guard.feed("arrives soon.")]
    sent.append(guard.close())
    assert sent[0] == "" and sent[2] == ""
    assert "".join(sent) == "Your card arrives soon."
    assert guard.text == "Your card arrives soon." and not guard.stopped
