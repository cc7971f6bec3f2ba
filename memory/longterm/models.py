"""Models of the longterm app."""
