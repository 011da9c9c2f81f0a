#!/bin/sh
# The part of the official postgres image's docker-entrypoint.sh that
# compose.yaml relies on, for the test's stand-in image: on an empty data
# folder, initdb with the superuser password from POSTGRES_PASSWORD_FILE,
# then the /docker-entrypoint-initdb.d scripts against a server that listens
# only on its socket; then the server itself with the given arguments.
set -eu
if [ "${1:-}" = postgres ]; then shift; fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --pgdata="$PGDATA" --username=postgres --pwfile="$POSTGRES_PASSWORD_FILE" \
    --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
  postgres "$@" -c listen_addresses='' &
  server=$!
  until pg_isready --quiet --host /var/run/postgresql; do sleep 0.2; done
  for script in /docker-entrypoint-initdb.d/*.sh; do
    if [ -e "$script" ]; then sh "$script"; fi
  done
  kill -INT "$server"
  wait "$server" || true
fi
exec postgres "$@"
