"""The `nudge` command line (marketers and ops) and its HTML report: outside the Lambda layer.

main.py assembles the parser from one module per area (reports, users, messaging, campaigns,
surveys, nps, geofences, local); configs.py is the validate/push/wait flow every config kind
shares; admin.py the SigV4 admin API client; printers.py the text output (also used by the
local demo).
"""

from nudge_cli.main import main

__all__ = ["main"]
