#!/usr/bin/env bash
# Start pagefeed's nats-server in the foreground (from any directory).
#
#   deploy/nats/start.sh                       # single node: deploy/nats/nats-server.conf
#   deploy/nats/start.sh --cluster 1           # cluster node n1 (also 2, 3): deploy/nats/cluster/n1.conf
#   deploy/nats/start.sh --cluster=2 -DV       # anything after is passed to nats-server
#
# It installs nats-server first if needed (install.sh), then runs it from the
# repository root, so the configs' relative store_dir ("./data/nats...") lands
# in <repo>/data. Stop it with Ctrl-C or SIGTERM (its data is kept).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd "$here/../.." && pwd -P)"

usage() {
    sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

conf="deploy/nats/nats-server.conf"
case "${1:-}" in
    --cluster)
        [ $# -ge 2 ] || usage
        node="$2"
        shift 2
        ;;
    --cluster=*)
        node="${1#--cluster=}"
        shift
        ;;
    -h | --help)
        usage
        ;;
    *)
        node=""
        ;;
esac
if [ -n "$node" ]; then
    case "$node" in
        1 | 2 | 3) conf="deploy/nats/cluster/n$node.conf" ;;
        *)
            echo "start.sh: --cluster takes 1, 2 or 3, got '$node'" >&2
            exit 2
            ;;
    esac
fi

nats_server="$(bash "$here/install.sh" | tail -n1)"
if [ -z "$nats_server" ] || [ ! -x "$nats_server" ]; then
    echo "start.sh: install.sh did not give a nats-server binary" >&2
    exit 1
fi

cd "$repo"
mkdir -p data
echo "start.sh: $nats_server -c $conf $* (in $repo)" >&2
exec "$nats_server" -c "$conf" "$@"
