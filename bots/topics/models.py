"""Models of the topics app."""
