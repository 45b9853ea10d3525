#!/usr/bin/env bash
# Installs pagefeed's services for running outside the repository: the
# release binaries (pagefeed-scheduler, -fetcher, -projector and every other
# pagefeed service) and the pinned nats-server into PREFIX/bin, the README,
# docs and deploy files into PREFIX/share/doc/pagefeed.
#
#   scripts/install.sh [PREFIX]            (default /usr/local)
#   scripts/install.sh --systemd [PREFIX]  also: the systemd units into
#       /etc/systemd/system (their /usr/local/bin paths made PREFIX/bin), and
#       /etc/pagefeed/pagefeed.toml and nats-server.conf from the examples
#       when they do not exist yet; then `systemctl daemon-reload`.
#
# Without it the binaries stay in target/release/ after `cargo build
# --release --bins` (scripts/run.sh runs them from there).
#
# DESTDIR=DIR stages everything under DIR (the units and /etc files too,
# and no daemon-reload), for packaging; PAGEFEED_BIN_DIR=DIR installs the
# binaries already built in DIR instead of building the release ones.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

systemd=false
if [ "${1:-}" = "--systemd" ]; then
    systemd=true
    shift
fi
prefix="${1:-/usr/local}"
case "$prefix" in
/*) ;;
*) prefix="$PWD/$prefix" ;;
esac

log() { printf 'install.sh: %s\n' "$*" >&2; }

destdir="${DESTDIR:-}"
root="$destdir$prefix"
if [ -n "${PAGEFEED_BIN_DIR:-}" ]; then
    bins="$PAGEFEED_BIN_DIR"
else
    log "building the release binaries…"
    cargo build --release --locked --bins
    bins=target/release
fi

install -d "$root/bin" "$root/share/doc/pagefeed"
for bin in "$bins"/pagefeed-*; do
    name="$(basename "$bin")"
    # Services only: the benchmarks and the sample site are the project's
    # own tools, run from the repository.
    case "$name" in
    *.d | pagefeed-bench | pagefeed-sample-site) continue ;;
    esac
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    install -m 0755 "$bin" "$root/bin/$name"
    log "installed $root/bin/$name"
done
nats="$(bash deploy/nats/install.sh | tail -n1)"
install -m 0755 "$nats" "$root/bin/nats-server"
log "installed $root/bin/nats-server ($("$nats" --version 2>&1))"

cp -R README.md docs deploy pagefeed.example.toml "$root/share/doc/pagefeed/"
log "installed the documentation in $root/share/doc/pagefeed"

if $systemd; then
    units="$destdir/etc/systemd/system"
    etc="$destdir/etc/pagefeed"
    install -d "$units" "$etc"
    for unit in deploy/systemd/*.service; do
        sed -e "s#/usr/local/bin/#$prefix/bin/#g" \
            -e "s#/usr/local/share/doc/pagefeed/#$prefix/share/doc/pagefeed/#g" \
            "$unit" >"$units/$(basename "$unit")"
        log "installed $units/$(basename "$unit")"
    done
    if [ ! -e "$etc/pagefeed.toml" ]; then
        install -m 0644 pagefeed.example.toml "$etc/pagefeed.toml"
        log "wrote $etc/pagefeed.toml (the example: edit its sites)"
    fi
    if [ ! -e "$etc/nats-server.conf" ]; then
        install -m 0644 deploy/nats/nats-server.conf "$etc/nats-server.conf"
        log "wrote $etc/nats-server.conf"
    fi
    if [ -z "$destdir" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
    fi
    log "start with: systemctl enable --now nats-server pagefeed-scheduler pagefeed-fetcher@1 pagefeed-projector@a"
fi
