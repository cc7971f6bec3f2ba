"""Bots: configuration, model engines, prompts and the model worker's tasks."""
