"""The console script's entry point (`nudge = nudge_cli.commands:main`); the CLI is in main.py."""

from nudge_cli.main import main

__all__ = ["main"]
