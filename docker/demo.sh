#!/usr/bin/env bash
# `make docker-demo`: runs the two compose scenarios with the image $IMAGE
# (built by `make docker-image`), prints what each client saw, checks the
# results, and removes what it created (containers, networks, volumes),
# whatever happens. Exits non-zero on the first check that fails.
#
#   lab      (compose.yaml): client1 uploads from_client1.txt to ftp-server,
#            client2 downloads it; the file must be in the server's volume
#            and in client2, byte for byte.
#   cluster  (compose.cluster.yaml): an ftpmaster and two slaves (separate
#            containers, one shared volume); client1 uploads through the
#            master, client2 downloads through it: each reaches another
#            slave, and the slaves log the clients' real addresses.
#
# Environment: IMAGE (forkftp:latest), DOCKER (docker), COMPOSE (the compose
# command: docker-compose, else `docker compose`), DEMO_ID (a suffix for the
# compose project names, so that runs side by side never meet; the pid).
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
export FORKFTP_IMAGE=${IMAGE:-forkftp:latest}
id=${DEMO_ID:-$$}
if [ -n "${COMPOSE:-}" ]; then
    read -ra compose <<<"$COMPOSE"
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
elif $DOCKER compose version >/dev/null 2>&1; then
    compose=("$DOCKER" compose)
else
    echo "docker-demo: no compose: install docker-compose (Debian) or the docker compose plugin" >&2
    exit 1
fi
# The cluster key: fresh for each run, in the environment only.
FTP_CLUSTER_KEY=$(head -c 24 /dev/urandom | base64)
export FTP_CLUSTER_KEY

lab=(-p "forkftp-lab-$id" -f compose.yaml)
cluster=(-p "forkftp-cluster-$id" -f compose.cluster.yaml)
cleanup() {
    "${compose[@]}" "${lab[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    "${compose[@]}" "${cluster[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() {
    echo "docker-demo: FAILED: $*" >&2
    exit 1
}

# Waits (at most 120 s) for a one-shot container to exit; prints its status.
exited() {
    timeout 120 "$DOCKER" wait "$1" || fail "container $1 did not finish within 120 s"
}

# Prints a client's output under a title.
show() {
    echo "---- $1 saw:"
    "$DOCKER" logs "$2" 2>&1 | sed 's/^/    /'
}

# The bytes of FILE inside container C (running or not, volumes included).
file_in() {
    "$DOCKER" cp "$1:$2" - | tar -xO
}

# Checks that FILE in container C holds exactly the bytes of LOCAL.
same_file() {
    local c=$1 path=$2 local=$3 what=$4
    local got
    got=$(file_in "$c" "$path" | sha256sum | cut -d' ' -f1) || fail "$what: no $path"
    [ "$got" = "$(sha256sum <"$local" | cut -d' ' -f1)" ] || fail "$what: $path differs from $local"
    echo "ok: $what holds $path, byte for byte ($(wc -c <"$local") bytes)"
}

# Waits for the one-shot client1 and client2 of SCENARIO (the compose
# arguments follow) and prints what each saw; fails unless both exited 0.
# Sets clients to their two container ids.
clients_done() {
    local scenario=$1 s c status
    shift
    clients=()
    for s in client1 client2; do
        c=$("${compose[@]}" "$@" ps -q "$s")
        [ -n "$c" ] || fail "$scenario: no $s container"
        status=$(exited "$c")
        show "$scenario $s" "$c"
        [ "$status" = 0 ] || fail "$scenario: $s exited with $status"
        clients+=("$c")
    done
}

ip_of() { "$DOCKER" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

upload=docker/client1/from_client1.txt

echo "==== lab: ftp-server with a data volume, client1 and client2 (compose.yaml)"
"${compose[@]}" "${lab[@]}" up -d
clients_done lab "${lab[@]}"
server=$("${compose[@]}" "${lab[@]}" ps -q ftp-server)
same_file "$server" /srv/ftp/from_client1.txt "$upload" "lab: the server's volume"
same_file "${clients[1]}" /home/ftp/_CLIENTROOT/from_client1.txt "$upload" "lab: client2"
"${compose[@]}" "${lab[@]}" down -v >/dev/null 2>&1

echo "==== cluster: ftpmaster, slave1 and slave2 on one shared volume, clients through the master (compose.cluster.yaml)"
"${compose[@]}" "${cluster[@]}" up -d ftpmaster slave1 slave2
master=$("${compose[@]}" "${cluster[@]}" ps -q ftpmaster)
# Clients only once both slaves are registered (a client before that
# would get "421 no server ready").
live=0
for _ in $(seq 1 600); do
    live=$("$DOCKER" exec "$master" ftpmaster status 2>/dev/null | awk '$2 == "live"' | wc -l) || live=0
    [ "$live" -ge 2 ] && break
    sleep 0.1
done
[ "$live" -ge 2 ] || fail "cluster: $live slaves registered with the master after 60 s"
"${compose[@]}" "${cluster[@]}" up -d
clients_done cluster "${cluster[@]}"
greetings=()
for c in "${clients[@]}"; do
    greetings+=("$("$DOCKER" logs "$c" 2>&1 | grep -o 'forkftp slave [0-9]*' | head -1)")
done
[ -n "${greetings[0]}" ] && [ -n "${greetings[1]}" ] || fail "cluster: a client was not greeted by a slave"
[ "${greetings[0]}" != "${greetings[1]}" ] || fail "cluster: both clients reached ${greetings[0]}"
echo "ok: round robin: client1 reached ${greetings[0]}, client2 ${greetings[1]}"
slave2=$("${compose[@]}" "${cluster[@]}" ps -q slave2)
same_file "$slave2" /srv/ftp/from_client1.txt "$upload" "cluster: the shared volume"
same_file "${clients[1]}" /home/ftp/_CLIENTROOT/from_client1.txt "$upload" "cluster: client2"
# The master names each client's address; the slave that served it must
# log the same (from the master's PROXY header), not the master's.
master_ip=$(ip_of "$master")
slave_logs=$(for s in slave1 slave2; do "$DOCKER" logs "$("${compose[@]}" "${cluster[@]}" ps -q "$s")" 2>&1; done)
relayed=$("$DOCKER" logs "$master" 2>&1 | grep -o '[0-9.]*:[0-9]* -> slave [0-9]* (relayed)' | cut -d' ' -f1)
[ "$(wc -w <<<"$relayed")" = 2 ] || fail "cluster: the master relayed [$relayed], not the two clients"
for addr in $relayed; do
    [ "${addr%:*}" != "$master_ip" ] || fail "cluster: the master logged its own address for a client"
    grep -q "\] $addr: connected (relayed by the master)" <<<"$slave_logs" ||
        fail "cluster: no slave logged the client $addr"
    echo "ok: a slave logged the client's real address $addr (relayed by the master at $master_ip)"
done

echo "docker-demo: all checks passed"
