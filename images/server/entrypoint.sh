#!/bin/sh
# The server's entrypoint.
#   rds-server sshd         generate host keys on first boot, write known_hosts and the authorized keys,
#                           run sshd (the default), and with MAINTENANCE_AT the maintenance beside it
#   rds-server known-hosts  generate host keys if needed and print the known_hosts file, then exit
set -eu

port=${SSHD_PORT:-2222}
authorized_keys=${AUTHORIZED_KEYS_FILE:-/run/secrets/restic-ssh-authorized-keys}
keys=/etc/ssh/host_keys
known_hosts=/etc/ssh/host_fingerprints/known_hosts
# What sshd reads: AUTHORIZED_KEYS_FILE with a forced command on every key (rds server-keys).
sshd_keys=/etc/ssh/rds_authorized_keys

fail() {
  echo "rds-server: $*" >&2
  exit 2
}

case $port in
  '' | *[!0-9]*) fail "SSHD_PORT must be a port number from 1 to 65535, not \"$port\"." ;;
esac
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || fail "SSHD_PORT must be a port number from 1 to 65535, not \"$port\"."

# Host keys live in a volume, so that a re-created or rescheduled server keeps its identity.
generate_host_keys() {
  mkdir -p "$keys"
  chmod 700 "$keys"
  for type in ed25519 rsa; do
    if [ ! -s "$keys/ssh_host_${type}_key" ]; then
      ssh-keygen -q -t "$type" -N '' -C "restic-docker-swarm-server" -f "$keys/ssh_host_${type}_key"
      echo "rds-server: generated a new $type host key" >&2
    fi
  done
}

# One line per host key, for every name in SWARM_SERVICE (comma-separated), in the [name]:port form
# that ssh looks up for a port other than 22.
known_hosts_text() {
  names=${SWARM_SERVICE:-$(hostname)}
  patterns=
  old_ifs=$IFS
  IFS=,
  for name in $names; do
    [ -n "$name" ] || continue
    if [ "$port" = 22 ]; then pattern=$name; else pattern="[$name]:$port"; fi
    patterns=${patterns:+$patterns,}$pattern
  done
  IFS=$old_ifs
  for type in ed25519 rsa; do
    read -r key_type key_data _ <"$keys/ssh_host_${type}_key.pub"
    echo "$patterns $key_type $key_data"
  done
}

case ${1:-sshd} in
  known-hosts)
    generate_host_keys
    known_hosts_text
    ;;
  sshd)
    [ -s "$authorized_keys" ] || fail "AUTHORIZED_KEYS_FILE is $authorized_keys, which does not exist or is empty; create the Swarm secret restic-ssh-authorized-keys with the agents' public keys."
    generate_host_keys
    mkdir -p "$(dirname "$known_hosts")" /run/sshd
    known_hosts_text >"$known_hosts.tmp"
    chmod 644 "$known_hosts.tmp"
    mv "$known_hosts.tmp" "$known_hosts"
    # The repositories' volume may be new and owned by root.
    chown restic:restic /home/restic
    chmod 755 /home/restic
    echo "rds-server: host key fingerprints:" >&2
    for type in ed25519 rsa; do ssh-keygen -l -f "$keys/ssh_host_${type}_key.pub" >&2; done
    echo "rds-server: known_hosts for agents is $known_hosts:" >&2
    cat "$known_hosts" >&2
    rds server-keys "$authorized_keys" "$sshd_keys"
    echo "rds-server: serving on port $port" >&2
    if [ -n "${MAINTENANCE_AT:-}" ]; then
      exec rds server -- /usr/sbin/sshd -D -e -p "$port" -o "AuthorizedKeysFile=$sshd_keys"
    fi
    exec /usr/sbin/sshd -D -e -p "$port" -o "AuthorizedKeysFile=$sshd_keys"
    ;;
  *)
    exec "$@"
    ;;
esac
