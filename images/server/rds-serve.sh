#!/bin/sh
# rds-serve [--append-only] REPOSITORY
# The forced command of an agent key confined to one repository (the server's authorized keys
# say which: rds keygen writes the line). It runs inside the sessions' chroot (/home), as restic,
# and serves /restic/REPOSITORY only, over restic's REST protocol on stdin and stdout: restic's
# rclone backend speaks it through ssh. With --append-only nothing can be deleted or overwritten
# but locks. Only shell built-ins: the chroot holds this shell and rclone, nothing else.
set -eu

refuse() {
  echo "rds-serve: $*" >&2
  exit 1
}

append_only=
if [ "${1:-}" = --append-only ]; then
  append_only=--append-only
  shift
fi
[ $# -eq 1 ] || refuse "the server's authorized keys give this key a forced command without one repository; write it as rds-serve [--append-only] REPOSITORY."

# A repository is named as agents' REPO_PATH names it: "db", "/home/restic/db" or "/restic/db".
normalize() {
  name=${1%/}
  name=${name#/home/restic/}
  name=${name#/restic/}
  echo "$name"
}
repository=$(normalize "$1")
case $repository in
  '' | /* | */ | *//* | *[!A-Za-z0-9_./-]* | . | .. | ../* | */.. | */../* | ./* | */. | */./*)
    refuse "the server's authorized keys name the repository \"$1\" for this key; use a path under /home/restic such as \"app/db\"." ;;
esac

# The agent sends what it expects as the command: "serve restic --stdio [--append-only] REPO_PATH".
# A key and an agent that disagree are refused, in words that say which setting to change.
requested=
agent_append_only=
for word in ${SSH_ORIGINAL_COMMAND:-}; do
  [ "$word" != --append-only ] || agent_append_only=--append-only
  requested=$word
done
if [ -n "$append_only" ]; then mode=append-only; else mode=confined; fi
[ -n "$requested" ] || refuse "this key serves restic for the repository $repository only; set SERVER_MODE=$mode and REPO_PATH=$repository on the agent."
if [ "$(normalize "$requested")" != "$repository" ]; then
  refuse "this key reaches the repository $repository only, not $requested; set REPO_PATH=$repository on the agent, or make a key for $requested with rds keygen."
fi
if [ "$agent_append_only" != "$append_only" ]; then
  refuse "this key is $mode on the server; set SERVER_MODE=$mode on the agent, or make a key of the mode you want with rds keygen."
fi

# --config "": rclone needs no configuration for a local path, and has none in here. RDS_SERVE_ROOT
# is for a server outside the image (the tests' sshd); in the image no key can set it.
exec /usr/bin/rclone --config "" serve restic --stdio $append_only "${RDS_SERVE_ROOT:-/restic}/$repository"
