"""REST endpoints, one router per area; each scopes every query to the caller's organization."""
