#!/usr/bin/env bash
# The run command (README): starts the whole system on one machine with the
# embedded defaults: a nats-server from deploy/nats (store in ./data/nats),
# the sample site on 127.0.0.1:8700, the scheduler, two fetchers and two
# projectors (nodes a and b, HTTP on 8781 and 8782), all with
# pagefeed.example.toml, and a notifier (status on 8790) only if the config
# names a [[notify]] destination. Ctrl-C stops everything cleanly.
#
#   scripts/run.sh [CONFIG]        (default: pagefeed.example.toml)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
config="${1:-pagefeed.example.toml}"
mkdir -p data/logs

# The previous run's logs are kept, not truncated: they move to
# data/logs/previous/<when it ended>/, and the 5 newest such runs stay.
keep_runs=5
if compgen -G "data/logs/*.log" >/dev/null; then
    ended="$(date -u -r "$(ls -t data/logs/*.log | head -n1)" +%Y%m%dT%H%M%SZ)"
    mkdir -p "data/logs/previous/$ended"
    mv data/logs/*.log "data/logs/previous/$ended/"
    echo "run.sh: the previous run's logs are in data/logs/previous/$ended/"
    ls -1d data/logs/previous/*/ | sort -r | tail -n +$((keep_runs + 1)) | xargs -r rm -rf
fi

echo "run.sh: building (release)…"
cargo build --release --locked --bins
bin=target/release

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "run.sh: stopping…"
    # Services first, so they finish publishing; nats-server last.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[$i]}" 2>/dev/null || true
        wait "${pids[$i]}" 2>/dev/null || true
    done
    echo "run.sh: stopped. Data is kept in ./data (delete it to start afresh)."
}
trap stop_all EXIT
trap 'stop_all; exit 0' INT TERM

bash deploy/nats/start.sh >data/logs/nats-server.log 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
    sleep 0.1
done
(exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null || {
    echo "run.sh: nats-server did not start; see data/logs/nats-server.log" >&2
    tail -n 20 data/logs/nats-server.log >&2
    exit 1
}

"$bin/pagefeed-sample-site" --listen 127.0.0.1:8700 >data/logs/sample-site.log 2>&1 &
pids+=($!)
"$bin/pagefeed-scheduler" --config "$config" >data/logs/scheduler.log 2>&1 &
pids+=($!)
for n in 1 2; do
    "$bin/pagefeed-fetcher" --config "$config" >"data/logs/fetcher-$n.log" 2>&1 &
    pids+=($!)
done
for node in a b; do
    port=$([ "$node" = a ] && echo 8781 || echo 8782)
    "$bin/pagefeed-projector" --config "$config" --data "data/projector-$node" \
        --node "$node" --http "127.0.0.1:$port" >"data/logs/projector-$node.log" 2>&1 &
    pids+=($!)
done

notifier_line=""
if grep -q '^[[:space:]]*\[\[notify\]\]' "$config"; then
    "$bin/pagefeed-notifier" --config "$config" --http 127.0.0.1:8790 \
        >data/logs/notifier.log 2>&1 &
    pids+=($!)
    notifier_line="  notifier      http://127.0.0.1:8790/status                            log data/logs/notifier.log"
fi

cat <<MSG

pagefeed is running (config: $config)
  nats-server   nats://127.0.0.1:4222   monitoring http://127.0.0.1:8222   log data/logs/nats-server.log
  sample site   http://127.0.0.1:8700/                                  log data/logs/sample-site.log
  scheduler     publishes tasks to PAGEFEED_TASKS                       log data/logs/scheduler.log
  fetchers ×2   share the tasks, publish to PAGEFEED_EVENTS             logs data/logs/fetcher-1.log, fetcher-2.log
  projector a   http://127.0.0.1:8781/api/status   (data/projector-a)    log data/logs/projector-a.log
  projector b   http://127.0.0.1:8782/api/status   (data/projector-b)    log data/logs/projector-b.log
${notifier_line:-  notifier      not started: the config names no [[notify]] destination}
  web view      http://127.0.0.1:8781/   and   http://127.0.0.1:8782/   (each node's pages, entries and search)

Look at it:
  open http://127.0.0.1:8781/ in a browser           # the web view of node a
  curl -s http://127.0.0.1:8781/api/status
  curl -s 'http://127.0.0.1:8781/api/entries?q=%E6%B8%8B%E8%B0%B7&limit=5'   # search 渋谷
  tail -f data/logs/scheduler.log data/logs/fetcher-1.log
  curl -s http://127.0.0.1:8222/jsz?streams=true     # stream sizes, without the nats CLI
  nats stream info PAGEFEED_TASKS                    # with the nats CLI (deploy/nats/README.md)

Ctrl-C stops everything.
MSG

# Wait until a service dies or the user presses Ctrl-C. A trapped signal
# interrupts `wait` at once, so Ctrl-C (which the services receive too) is
# handled before their exits are.
wait -n
echo "run.sh: a service exited; see data/logs/" >&2
exit 1
