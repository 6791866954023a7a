"""Slack access outside Bolt's listeners: which client serves a workspace, and what Slack's
refusals mean. (Not `slack`: a legacy `slack` package may be installed in site-packages.)"""
