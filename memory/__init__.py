"""Per-customer memory: the conversations (the record), knowledge and long-term memory."""
