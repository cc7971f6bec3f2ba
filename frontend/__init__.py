"""The surfaces people use: the website widget (JS + its socket), demo page, console, dashboard."""
