#!/bin/sh
# The console's browser tests (tests/browser) and `make console-shots` drive Debian's Chromium
# through Playwright: Playwright's own browser download is not reachable from every machine,
# and no test may skip for want of a browser. So install it (apt) when it is missing, or fail.
set -eu
CHROMIUM=${NUDGE_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "ensure_chromium: $CHROMIUM is missing: installing Debian's chromium and chromium-driver" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "ensure_chromium: FAILED: the browser tests need Chromium at $CHROMIUM; run as root, or" \
    "install it yourself: sudo apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "ensure_chromium: FAILED: apt-get installed chromium but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "ensure_chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed" >&2
