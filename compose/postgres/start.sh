#!/bin/sh
# Starts PostgreSQL in compose.yaml with TLS on. Compose mounts the key as it
# is on the host, readable by others, and PostgreSQL refuses such a key: a
# private copy (0600, owned by this user) goes to the container's /tmp.
set -eu
install -m 0600 /run/secrets/postgres-key /tmp/server.key
exec docker-entrypoint.sh postgres \
  -c listen_addresses='*' \
  -c ssl=on \
  -c ssl_min_protocol_version=TLSv1.3 \
  -c ssl_cert_file=/run/secrets/postgres-cert \
  -c ssl_key_file=/tmp/server.key \
  -c ssl_ca_file=/run/secrets/ca-cert \
  -c hba_file=/etc/cloudshop/pg_hba.conf \
  -c password_encryption=scram-sha-256
