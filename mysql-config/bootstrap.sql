-- myquorum bootstrap: run ONCE, on the PRIMARY only, after replication is wired, so that every
-- statement gets a primary GTID and replicates (anything written locally on a replica gets its
-- own GTID and breaks gtid_strict_mode replication).
-- ${NAME} placeholders are filled in by the sandbox (values are SQL-escaped there); every
-- statement is idempotent (IF NOT EXISTS) so a re-run is harmless.
-- Statements are separated by a ';' at the end of a line. See README.md for every privilege.

CREATE DATABASE IF NOT EXISTS `${APP_DATABASE}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

-- Application user: everything on its own database, nothing global (ALL ON *.* would include
-- READ_ONLY ADMIN and let it write straight through read_only on replicas).
CREATE USER IF NOT EXISTS '${APP_USER}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${APP_PASSWORD}');
GRANT ALL PRIVILEGES ON `${APP_DATABASE}`.* TO '${APP_USER}'@'%';

-- Control user (the proxy's monitor and failover): exactly what they need, see README.md.
CREATE USER IF NOT EXISTS '${CONTROL_USER}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${CONTROL_PASSWORD}');
GRANT REPLICATION SLAVE ADMIN, REPLICA MONITOR, BINLOG MONITOR, READ_ONLY ADMIN, CONNECTION ADMIN, SHUTDOWN, RELOAD, PROCESS, REPLICATION SLAVE ON *.* TO '${CONTROL_USER}'@'%';

-- Replication user: what a replica's IO thread logs in as (CHANGE MASTER TO MASTER_USER=...).
CREATE USER IF NOT EXISTS '${REPL_USER}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${REPL_PASSWORD}');
GRANT REPLICATION SLAVE ON *.* TO '${REPL_USER}'@'%';

-- Demo tables of API.md.
CREATE TABLE IF NOT EXISTS `${APP_DATABASE}`.`users` (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255),
  email VARCHAR(255) UNIQUE,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  `timestamp` BIGINT NULL
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS `${APP_DATABASE}`.`products` (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255),
  price DECIMAL(10,2),
  stock INT,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  `timestamp` BIGINT NULL
) ENGINE=InnoDB;
