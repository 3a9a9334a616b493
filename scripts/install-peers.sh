#!/bin/sh
# Installs the engines isobench compares against (Debian packages), and starts or stops a
# Docker daemon suitable for benchmarking (no iptables, no bridge: containers use --network none).
#
#   scripts/install-peers.sh [--with-podman] [--start-docker] [--stop-docker] [--no-install]
#
# Idempotent; safe in non-interactive CI. Needs root.
set -eu

with_podman=0
start_docker=0
stop_docker=0
install=1
for arg in "$@"; do
    case "$arg" in
        --with-podman) with_podman=1 ;;
        --start-docker) start_docker=1 ;;
        --stop-docker) stop_docker=1; install=0 ;;
        --no-install) install=0 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "install-peers.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "install-peers.sh: run as root (apt-get and dockerd need it)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
pidfile=/run/isobench-dockerd.pid
logfile=/var/log/isobench-dockerd.log
[ -w /var/log ] || logfile=/tmp/isobench-dockerd.log

# apt-get, retried while another dpkg holds the lock.
apt_retry() {
    tries=0
    until apt-get -o DPkg::Lock::Timeout=120 "$@"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ]; then
            echo "install-peers.sh: apt-get $* failed $tries times" >&2
            return 1
        fi
        sleep 5
    done
}

if [ "$install" -eq 1 ]; then
    packages="crun runc runsc lxc bubblewrap util-linux qemu-system-x86 docker.io"
    [ "$with_podman" -eq 1 ] && packages="$packages podman"
    missing=""
    for package in $packages; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $package"
    done
    if [ -n "$missing" ]; then
        # Update the lists only when a package is unknown to apt.
        for package in $missing; do
            if ! apt-cache show "$package" >/dev/null 2>&1; then
                apt_retry update -q
                break
            fi
        done
        # shellcheck disable=SC2086 # word splitting of the package list is intended
        apt_retry install -y -q --no-install-recommends $missing
    fi
    echo "install-peers.sh: installed:$packages"
fi

docker_answers() {
    timeout 3 docker info >/dev/null 2>&1
}

# True while process $1 runs (a zombie waiting for its parent has already stopped).
running() {
    [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}

if [ "$stop_docker" -eq 1 ]; then
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && running "$pid"; then
        kill "$pid"
        for _ in $(seq 1 30); do
            running "$pid" || break
            sleep 1
        done
        rm -f "$pidfile"
        echo "install-peers.sh: dockerd stopped"
    else
        echo "install-peers.sh: no dockerd started by this script is running"
    fi
fi

if [ "$start_docker" -eq 1 ]; then
    if docker_answers; then
        echo "install-peers.sh: a Docker daemon already answers"
    else
        command -v dockerd >/dev/null || { echo "install-peers.sh: dockerd not found — run without --no-install" >&2; exit 1; }
        # Detached from this shell so it outlives the script; its pid is what --stop-docker kills.
        nohup dockerd --iptables=false --bridge=none --pidfile "$pidfile" >"$logfile" 2>&1 &
        waited=0
        until docker_answers; do
            waited=$((waited + 1))
            if [ "$waited" -ge 30 ]; then
                echo "install-peers.sh: dockerd did not answer within 30 s; see $logfile" >&2
                tail -n 20 "$logfile" >&2 || true
                exit 1
            fi
            sleep 1
        done
        echo "install-peers.sh: dockerd running (pid $(cat "$pidfile"), log $logfile)"
    fi
fi
