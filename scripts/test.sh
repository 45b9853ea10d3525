#!/usr/bin/env bash
# The test command (README, CI): installs what is missing (nats-server, the
# rustfmt and clippy components, libfaketime for the chaos, Chromium and
# chromedriver for the web view's browser tests), then checks formatting, lints with
# warnings as errors, and runs the whole test suite against real nats-servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NATS_SERVER_BIN="$(bash deploy/nats/install.sh | tail -n1)"
export NATS_SERVER_BIN
echo "test.sh: using nats-server at $NATS_SERVER_BIN"

# libfaketime: the chaos's short mode (a test below) skews a fetcher's clock
# with it, and skips that fault without it.
if ! ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        { apt-get install -y -q faketime || { apt-get update -q && apt-get install -y -q faketime; }; } >/dev/null 2>&1 ||
            echo "test.sh: could not install faketime; the chaos will skip the clock skew" >&2
    else
        echo "test.sh: libfaketime missing (apt-get install faketime); the chaos will skip the clock skew" >&2
    fi
fi

# The manual pages the bench crate's search test indexes as real text
# (scripts/bench-corpus.sh).
if ! [ -d /usr/share/man/ja/man1 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        bash scripts/bench-corpus.sh >/dev/null 2>&1 ||
            echo "test.sh: could not install the manual pages; the real-text search test will fail" >&2
    else
        echo "test.sh: manual pages missing (scripts/bench-corpus.sh); the real-text search test will fail" >&2
    fi
fi

# Chromium and chromedriver: the web view's tests drive a real browser, and
# fail (saying what is missing) without one. A Japanese font makes their
# screenshots readable.
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ] || ! fc-list :lang=ja 2>/dev/null | grep -q .; then
    browser_packages="chromium chromium-driver fonts-ipafont-gothic"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        # shellcheck disable=SC2086
        { apt-get install -y -q $browser_packages || { apt-get update -q && apt-get install -y -q $browser_packages; }; } >/dev/null 2>&1 ||
            echo "test.sh: could not install $browser_packages; the web view's browser tests will fail" >&2
    else
        echo "test.sh: Chromium missing (apt-get install $browser_packages); the web view's browser tests will fail" >&2
    fi
fi

for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# cargo-nextest (on the project's machines) runs two tests at a time, each in
# its own process, so the chaos's short mode (over 3 minutes) and the
# partition tests run beside the rest; cargo test runs one test binary after
# another.
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked
else
    echo "test.sh: cargo-nextest not installed; running cargo test (slower)" >&2
    cargo test --workspace --locked
fi
