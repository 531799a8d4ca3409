#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the distributed tests, listening on 127.0.0.1
# only, and print the storage URL to use. Debian's package; the cluster lives in a temp dir.
# `postgres.sh stop` stops the server it last started and removes its files.
set -euo pipefail
state=/tmp/automl-pg.current
if [ "${1:-}" = stop ]; then
    if [ -f "$state" ]; then
        read -r bin data < "$state"
        su postgres -c "$bin/pg_ctl -D $data/db -m fast -w stop" >/dev/null || true
        rm -rf "$data" "$data.pw" "$state"
    fi
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")
data=$(mktemp -d /tmp/automl-pg.XXXXXX)
chown postgres "$data"
# a free port on the loopback interface
port=${PGPORT_TEST:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$password" > "$data.pw" && chown postgres "$data.pw"
su postgres -c "$bin/initdb -D $data/db -A scram-sha-256 -U postgres --pwfile=$data.pw" >/dev/null
echo "$bin $data" > "$state"
su postgres -c "$bin/pg_ctl -D $data/db -l $data/log -w -o '-c listen_addresses=127.0.0.1 -p $port -k $data' start" >/dev/null
PGPASSWORD=$password "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE automl" >/dev/null
echo "postgresql://postgres:$password@127.0.0.1:$port/automl"
