#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the test suite and leave it running.
#   .ci/start-postgres.sh DIR     then:  source DIR/pg.env && pytest
# DIR/pg.env exports MODELWORKS_TEST_POSTGRES_URL; stop it with: pg_ctl -D DIR/data -m immediate stop
# (run as the postgres user when root). Same setup as tests/_pg.py, for CI jobs that start it once.
set -euo pipefail

dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
  bindir=$(dirname "$(command -v initdb)")
else
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -n1 || true)
fi
if [[ -z "${bindir:-}" || ! -x "$bindir/initdb" ]]; then
  echo "no PostgreSQL binaries found (initdb)" >&2
  exit 1
fi

# PostgreSQL refuses to run as root.
as_user=()
if [[ $(id -u) -eq 0 ]]; then
  chown postgres "$dir"
  as_user=(runuser -u postgres --)
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$dir/data"
"${as_user[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log"
"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
  -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start

url="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
echo "export MODELWORKS_TEST_POSTGRES_URL=$url" >"$dir/pg.env"
echo "PostgreSQL running at $url (env in $dir/pg.env)"
