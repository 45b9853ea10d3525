#!/usr/bin/env bash
# The real text of `pagefeed-bench text` and of the bench crate's search test
# over it (docs/BENCHMARKS.md, "Real text"): Debian's Japanese manual pages
# (manpages-ja, manpages-ja-dev, under /usr/share/man/ja) and English ones
# (manpages, under /usr/share/man/man5 and man7). Needs root and apt-get.
set -euo pipefail
packages="manpages-ja manpages-ja-dev manpages"
# shellcheck disable=SC2086
apt-get install -y -q $packages || { apt-get update -q && apt-get install -y -q $packages; }
