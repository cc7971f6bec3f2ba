"""The demo bot's topics: BANKING77's 77 intents, with its train split as examples."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from bots.models import Bot

from .services import add_topics

# ../shared beside the checkout holds the dataset (not shipped in the repository).
BANKING77 = Path(
    os.environ.get("SWITCHBOARD_BANKING77")
    or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "banking77"
)


def banking77_topics(folder: Path) -> dict[str, list[str]]:
    """Intent name -> example utterances, from the dataset's train.csv (text,category)."""
    topics: dict[str, list[str]] = {}
    with (folder / "train.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            topics.setdefault(row["category"], []).append(row["text"])
    return topics


def seed_demo_topics(bot: Bot, folder: Path = BANKING77) -> str:
    """Add the intents (idempotent); embedding and training happen in the background worker."""
    if not (folder / "train.csv").exists():
        return f"topics: skipped, no BANKING77 train.csv in {folder}"
    topics = banking77_topics(folder)
    added = add_topics(bot, topics)
    state = "training queued" if added else "unchanged"
    return f"topics: {len(topics)} intents, {added} new examples ({state})"
