#!/usr/bin/env bash
# The browser the web page's tests drive (tests/test_web.py): Debian's Chromium, and a
# Chinese font for its screenshots. Installed when missing (as root, with apt-get); the
# tests never skip without it, they fail and say to run this.
set -euo pipefail
browser="${GRASSROOTS_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$browser" ]] && fc-list :lang=zh 2>/dev/null | grep -q .; then
  exit 0
fi
packages=(chromium fonts-wqy-microhei)
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "the web page's tests need Chromium at $browser and a Chinese font:" >&2
  echo "  sudo apt-get install ${packages[*]}   (or set GRASSROOTS_CHROMIUM to a Chromium)" >&2
  exit 1
fi
echo "installing ${packages[*]} from Debian (for the web page's tests)..."
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q "${packages[@]}" >/tmp/grassroots-apt.log 2>&1; then
  apt-get update -q >>/tmp/grassroots-apt.log 2>&1
  apt-get install -y -q "${packages[@]}" >>/tmp/grassroots-apt.log 2>&1 ||
    { tail -20 /tmp/grassroots-apt.log >&2; exit 1; }
fi
"$browser" --version
