"""Per-customer long-term memory: facts, preferences, conversation summaries, identity."""
