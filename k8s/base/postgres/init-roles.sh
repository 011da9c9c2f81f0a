#!/bin/sh
# First start only (docker-entrypoint-initdb.d): one login role and one schema
# per service, passwords read from the mounted Secret files, nothing for PUBLIC.
set -eu
secrets=/etc/cloudshop/secrets
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres <<SQL
CREATE DATABASE cloudshop;
REVOKE ALL ON DATABASE cloudshop FROM PUBLIC;
SQL
for role in auth products orders; do
  password="$(cat "$secrets/db-password-$role")"
  psql -v ON_ERROR_STOP=1 --username postgres --dbname cloudshop \
    -v role="$role" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
GRANT CONNECT ON DATABASE cloudshop TO :"role";
CREATE SCHEMA :"role" AUTHORIZATION :"role";
REVOKE ALL ON SCHEMA :"role" FROM PUBLIC;
SQL
done
psql -v ON_ERROR_STOP=1 --username postgres --dbname cloudshop -c 'REVOKE ALL ON SCHEMA public FROM PUBLIC;'
