"""Contacts, conversations, messages and feedback: what the platform remembers."""
