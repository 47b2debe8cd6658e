"""The `supportbot` command line (typer): main.py the app and its commands, admin.py the agent and key
commands, common.py the plumbing they share."""
