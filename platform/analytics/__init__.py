"""Analytics: rollups, dashboard queries, CSV exports."""
