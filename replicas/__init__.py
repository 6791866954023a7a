"""The replica workflow and its domain types. Every Slack or Tavus entry point calls into here."""
