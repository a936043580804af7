#!/usr/bin/env bash
# The admin console's browser dependencies, pinned in tools/console-web (npm): axe-core, which
# the browser test injects into every page, and htmx, whose minified file is committed in
# internal/console/static (so running the console needs neither npm nor a build step).
#   scripts/console-web.sh install   npm ci, when the lock file changed
#   scripts/console-web.sh vendor    install, then copy htmx.min.js into the console
# Without Node.js, install says so and exits 0 (the browser test then skips, saying why).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/tools/console-web"
say() { echo "console-web.sh: $*" >&2; }

install() {
	if ! command -v npm >/dev/null; then
		say "SKIPPED: npm is not installed, so axe-core is not available to the console's browser test"
		return 0
	fi
	cd "$dir"
	if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
		say "installing the pinned packages (npm ci)"
		npm ci --no-audit --no-fund --loglevel=error >&2
		touch node_modules
	fi
}

case "${1:-install}" in
install) install ;;
vendor)
	install
	cp "$dir/node_modules/htmx.org/dist/htmx.min.js" "$root/internal/console/static/htmx.min.js"
	say "copied htmx $(node -p "require('$dir/node_modules/htmx.org/package.json').version") into internal/console/static"
	;;
*) say "usage: $0 install|vendor"; exit 2 ;;
esac
