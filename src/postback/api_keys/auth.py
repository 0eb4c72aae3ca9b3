"""Bearer API-key authentication for the admin API (work in progress)."""
