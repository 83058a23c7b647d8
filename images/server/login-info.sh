# Printed by every interactive shell in the server container (the image sets ENV to this file).
echo "restic-docker-swarm server: SSH on port ${SSHD_PORT:-2222} for the user restic (SFTP, or one repository per confined key)"
echo "Repositories are under /home/restic (a volume); agents' REPO_PATH is relative to it."
count=0
for config in $(find /home/restic -mindepth 2 -maxdepth 4 -name config -type f 2>/dev/null); do
  repo=$(dirname "$config")
  [ -d "$repo/data" ] || continue
  count=$((count + 1))
  echo "  $(du -sh "$repo" 2>/dev/null | cut -f1)	$repo"
done
echo "$count repositories, $(du -sh /home/restic 2>/dev/null | cut -f1) in all."
echo "Host key fingerprints:"
for key in /etc/ssh/host_keys/*.pub; do ssh-keygen -l -f "$key" | sed 's/^/  /'; done
echo "known_hosts for agents: /etc/ssh/host_fingerprints/known_hosts"
if [ -n "${MAINTENANCE_AT:-}" ]; then
  echo "Maintenance: \"$MAINTENANCE_AT\" (rds status: the last results; rds maintain: now)"
fi
echo
