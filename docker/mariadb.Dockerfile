# One MariaDB 10.11 node of the docker-compose cluster: Debian bookworm's mariadb-server with
# the option file the sandbox uses (mysql-config/node.cnf). Per-node options (port, server-id)
# come from the environment, read by docker/mariadb-entrypoint.sh.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-server \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql/*
COPY mysql-config/node.cnf mysql-config/template-extra.sql /etc/myquorum/
COPY docker/mariadb-entrypoint.sh /usr/local/bin/mariadb-entrypoint.sh
VOLUME /var/lib/mysql
ENTRYPOINT ["/usr/local/bin/mariadb-entrypoint.sh"]
