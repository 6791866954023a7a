"""Slack listeners and inbound HTTP routes, grouped by surface: each such module has
`register(surface: Surface)` (handlers/surface.py) and is listed in server/app.py's DOORS."""
