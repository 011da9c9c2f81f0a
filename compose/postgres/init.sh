#!/bin/sh
# Run once by the PostgreSQL image on an empty data volume
# (/docker-entrypoint-initdb.d): one login role per service with the password
# from its secret, the cloudshop database, and one schema per service owned
# by its role that nobody else may use. psql reads each password from its
# secret file itself (\set with backquotes), so it is never on a command line.
set -eu
for role in auth products orders; do
  psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres -v role="$role" <<'SQL'
\set password `cat /run/secrets/db-password-:role`
SET password_encryption = 'scram-sha-256';
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SQL
done
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres <<'SQL'
CREATE DATABASE cloudshop;
SQL
for role in auth products orders; do
  psql -v ON_ERROR_STOP=1 --username postgres --dbname cloudshop -v role="$role" <<'SQL'
GRANT CONNECT ON DATABASE cloudshop TO :"role";
CREATE SCHEMA IF NOT EXISTS :"role" AUTHORIZATION :"role";
REVOKE ALL ON SCHEMA :"role" FROM PUBLIC;
SQL
done
psql -v ON_ERROR_STOP=1 --username postgres --dbname cloudshop <<'SQL'
REVOKE ALL ON DATABASE cloudshop FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
