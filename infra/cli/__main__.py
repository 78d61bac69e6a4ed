"""`python -m nudge_cli ...`: the `nudge` command line."""

from nudge_cli.main import main

raise SystemExit(main())
