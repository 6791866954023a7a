"""Slack listeners and inbound HTTP routes, grouped by surface; each module has `register(...)`."""
