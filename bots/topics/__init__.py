"""Topics (intents) with example utterances, message labelling, and sentiment."""
