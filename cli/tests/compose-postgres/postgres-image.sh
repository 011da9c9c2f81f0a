#!/bin/sh
# Builds a PostgreSQL image from this machine's own PostgreSQL binaries, for
# the compose test and the real node of `cloudshop cluster up`: public images
# cannot be pulled here. It stands in for the official postgres image (see
# compose.test.yaml and cluster/src/node.rs): the same user (70), data
# folder, socket folder, entrypoint name and default listen address, and the
# entrypoint does what compose.yaml and k8s/base/postgres rely on the
# official one to do.
#
#   postgres-image.sh TAG
set -eu
tag=$1
here=$(cd "$(dirname "$0")" && pwd)
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
lib=${bin%/bin}/lib
share=/usr/share/postgresql/$(basename "${bin%/bin}")
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
root=$context/rootfs

copy() {
  for file in "$@"; do
    mkdir -p "$root$(dirname "$file")"
    cp -L "$file" "$root$file"
  done
}

programs="$bin/postgres $bin/initdb $bin/psql $bin/pg_isready /bin/sh /usr/bin/cat /usr/bin/install /usr/bin/sleep"
# Server modules (plpgsql, snowball dictionaries, ...), without the LLVM JIT.
modules=$(find "$lib" -maxdepth 1 -name '*.so' ! -name 'llvmjit*')
copy $programs $modules
# Every shared library they load, and the dynamic loader.
ldd $programs $modules 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | sort -u | while read -r library; do
  copy "$library"
done
mkdir -p "$root/usr/share/postgresql" "$root/usr/share/zoneinfo" "$root/etc" "$root/usr/local/bin" "$root/docker-entrypoint-initdb.d"
cp -RL "$share" "$root/usr/share/postgresql/"
# As the official image: initdb's postgresql.conf listens on every address.
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$root/usr/share/postgresql/$(basename "$share")/postgresql.conf.sample"
grep -q "^listen_addresses = '\*'" "$root/usr/share/postgresql/$(basename "$share")/postgresql.conf.sample"
cp -L /usr/share/zoneinfo/UTC "$root/usr/share/zoneinfo/UTC"
printf 'root:x:0:0::/:/bin/sh\npostgres:x:70:70:PostgreSQL:/var/lib/postgresql:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\npostgres:x:70:\n' >"$root/etc/group"
install -m 0755 "$here/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
# The modes of the official image's folders (COPY keeps a source's mode).
mkdir -p "$root/tmp" "$root/var/run/postgresql" "$root/var/lib/postgresql" "$context/data"
chmod 1777 "$root/tmp"
chmod 3777 "$root/var/run/postgresql"
chmod 0700 "$context/data"

cat >"$context/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=70:70 data/ /var/lib/postgresql/data/
ENV PATH=$bin:/usr/local/bin:/usr/bin:/bin TZ=UTC PGDATA=/var/lib/postgresql/data
USER 70:70
# As the official image: SIGINT is PostgreSQL's fast shutdown (SIGTERM's
# smart shutdown waits for every client to leave, so a deleted pod would
# take its whole grace period).
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
podman build --quiet --pull=never --layers=false --tag "$tag" "$context" >/dev/null
