#!/bin/sh
set -eu
chown mysql:mysql /var/lib/mysql
if [ ! -d /var/lib/mysql/mysql ]; then
  password=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
  if [ -n "${MARIADB_ROOT_PASSWORD_FILE:-}" ]; then password=$(cat "$MARIADB_ROOT_PASSWORD_FILE"); fi
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal --skip-test-db >/dev/null
  # The root password, set by a server that listens on no network.
  mariadbd --user=mysql --datadir=/var/lib/mysql --skip-networking --socket=/run/mysqld/init.sock &
  for _ in $(seq 1 100); do mariadb --socket=/run/mysqld/init.sock -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
  printf "ALTER USER 'root'@'localhost' IDENTIFIED BY '%s'; CREATE USER 'root'@'%%' IDENTIFIED BY '%s'; GRANT ALL ON *.* TO 'root'@'%%' WITH GRANT OPTION; FLUSH PRIVILEGES;\n" "$password" "$password" \
    | mariadb --socket=/run/mysqld/init.sock -uroot
  mariadb-admin --socket=/run/mysqld/init.sock -uroot -p"$password" shutdown
  wait
fi
exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0
