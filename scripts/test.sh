#!/usr/bin/env bash
# The test command (README, CI): installs what is missing (nats-server, the
# rustfmt and clippy components), then checks formatting, lints with
# warnings as errors, and runs the whole test suite against real nats-servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NATS_SERVER_BIN="$(bash deploy/nats/install.sh | tail -n1)"
export NATS_SERVER_BIN
echo "test.sh: using nats-server at $NATS_SERVER_BIN"

for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
