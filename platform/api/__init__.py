"""REST API (OpenAPI 3), API keys and signed webhooks."""
