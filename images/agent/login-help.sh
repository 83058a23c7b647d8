# Printed by every interactive shell in the agent container (the image sets ENV to this file).
cat <<HELP
restic-docker-swarm agent: backs up ${BACKUP_PATH:-/backup} to ${REPO_PATH:-?} on ${SSH_HOST:-?}:${SSH_PORT:-2222}

  runrestic                 show the restic command runrestic runs, and examples
  runrestic snapshots       list the snapshots
  runrestic restore latest --target /tmp/restore
                            restore the newest snapshot
  rds backup                take a backup now (hooks, backup, retention)
  rds status                every job's last run, last success and snapshot
  rds --help                every command

HELP
rds status 2>/dev/null | sed 's/^/  /'
echo
