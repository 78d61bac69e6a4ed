"""The `nudge` command line (marketers and ops) and its HTML report: outside the Lambda layer."""

from nudge_cli.commands import main

__all__ = ["main"]
