"""python -m nudge_local serve|up|down — the embedded local stack."""

from nudge_local.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
