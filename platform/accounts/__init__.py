"""Organizations (tenants); later members, roles and API keys."""
