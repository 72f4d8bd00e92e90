-- Run by mariadb-install-db (--extra-file) while the template datadir is created, before any
-- binary log exists, so nothing here gets a GTID. It removes the anonymous accounts that
-- mariadb-install-db creates: they match before 'app'@'%' for 127.0.0.1 and make the app user
-- fail with error 1045 over TCP.
DELETE FROM mysql.global_priv WHERE User = '';
