#!/usr/bin/env bash
# Debian packages the tests need, installed when missing (CI and fresh machines run as root):
#   postgresql            the server store's tests start a real server on 127.0.0.1
#   chromium, chromium-driver   the dashboard's browser tests (Playwright drives /usr/bin/chromium)
#   libpango-1.0-0, libpangoft2-1.0-0   WeasyPrint's text layout, for PDF reports
#   poppler-utils         pdftotext, with which the tests read the PDF report back
set -euo pipefail
need=()
[ -n "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
ldconfig -p | grep -q 'libpango-1.0.so.0' || need+=(libpango-1.0-0)
ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || need+=(libpangoft2-1.0-0)
command -v pdftotext >/dev/null || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "not root: install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
