#!/bin/sh
# Starts one MariaDB node of the docker-compose cluster.
#   NODE_PORT       TCP port on 127.0.0.1 (the container shares the host's network)
#   SERVER_ID       distinct server_id per node (replication needs one each)
#   ADMIN_PASSWORD  password of 'root'@'127.0.0.1', the account `myquorum wire` logs in as
# First start on an empty volume: mariadb-install-db with mysql-config/template-extra.sql
# (drops the anonymous accounts) and the TCP root account, both before any binary log exists,
# so neither gets a GTID; replication, users and tables are then wired by `myquorum wire`.
set -eu
: "${NODE_PORT:?NODE_PORT is required}" "${SERVER_ID:?SERVER_ID is required}"
: "${ADMIN_PASSWORD:?ADMIN_PASSWORD is required}"
DATA=/var/lib/mysql
CNF=/etc/myquorum/node.cnf
mkdir -p "$DATA" /run/mysqld /var/tmp/mariadb
chown mysql:mysql "$DATA" /run/mysqld /var/tmp/mariadb

if [ ! -d "$DATA/mysql" ]; then
    # --defaults-file must come first (otherwise /etc/mysql/my.cnf is read too).
    mariadb-install-db --defaults-file="$CNF" --user=mysql --datadir="$DATA" \
        --auth-root-authentication-method=socket --skip-test-db \
        --extra-file=/etc/myquorum/template-extra.sql
    # SQL string literal: double quotes and backslashes.
    pw=$(printf '%s' "$ADMIN_PASSWORD" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")
    # A bootstrap run of our own (mariadb-install-db ignores failures of its --extra-file),
    # without a binary log: the account must not get a GTID of this node. Bootstrap mode
    # skips the grant tables, so they are loaded first.
    if ! mariadbd --defaults-file="$CNF" --user=mysql --datadir="$DATA" --skip-log-bin \
        --bootstrap --tmpdir=/var/tmp/mariadb <<SQL
FLUSH PRIVILEGES;
CREATE USER 'root'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
SQL
    then
        echo "creating 'root'@'127.0.0.1' failed; removing the half-initialised datadir" >&2
        rm -rf "${DATA:?}"/*
        exit 1
    fi
fi

# bind-address=127.0.0.1 comes from node.cnf: with host networking that is the host's loopback.
exec mariadbd --defaults-file="$CNF" --user=mysql --datadir="$DATA" \
    --port="$NODE_PORT" --server-id="$SERVER_ID" \
    --report-host=127.0.0.1 --report-port="$NODE_PORT" \
    --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
    --tmpdir=/var/tmp/mariadb
