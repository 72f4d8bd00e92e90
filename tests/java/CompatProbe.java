// Connector/J probe of the compat tests (tests/compat_java.rs): runs the same checks against
// one endpoint and prints one line per observation; the Rust test runs it against MariaDB
// directly and through the proxy and compares the lines.
//
// Usage:
//   java -cp <mariadb-java-client.jar>:<dir> CompatProbe compat <host> <port> <user> <password> <db>
//   java -cp ... CompatProbe tls <host> <port> <user> <password> <db> <ca.pem> <other-ca.pem>
//
// Nothing here may print a value that legitimately differs between the server and the proxy
// (connection ids, timings): those are compared inside the probe and printed as outcomes.

import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Driver;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;

public final class CompatProbe {
    private static String host, user, password, db;
    private static int port;

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        host = args[1];
        port = Integer.parseInt(args[2]);
        user = args[3];
        password = args[4];
        db = args[5];
        Driver driver = DriverManager.getDriver(url(""));
        System.err.println("driver " + driver.getMajorVersion() + "." + driver.getMinorVersion());
        if (mode.equals("compat")) {
            sameConnection("");
            acrossConnections();
            version();
            sameConnection("useCompression=true");
            largePackets("useCompression=true");
            largePackets("");
            kill();
            cancel();
        } else if (mode.equals("tls")) {
            tls(driver, args[6], args[7]);
        } else {
            throw new IllegalArgumentException("unknown mode " + mode);
        }
    }

    private static String url(String options) {
        String base = "jdbc:mariadb://" + host + ":" + port + "/" + db + "?user=" + user
                + "&password=" + password + "&connectTimeout=30000";
        return options.isEmpty() ? base : base + "&" + options;
    }

    private static Connection connect(String options) throws SQLException {
        return DriverManager.getConnection(url(options));
    }

    private static void out(String key, Object value) {
        System.out.println(key + ": " + value);
    }

    /** Every row of a query, with the column labels and types, as one string. */
    private static String rows(Statement st, String sql) throws SQLException {
        StringBuilder sb = new StringBuilder();
        try (ResultSet rs = st.executeQuery(sql)) {
            ResultSetMetaData md = rs.getMetaData();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                sb.append(md.getColumnLabel(i)).append('/').append(md.getColumnTypeName(i)).append(' ');
            }
            while (rs.next()) {
                sb.append('[');
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    sb.append(rs.getString(i)).append(i < md.getColumnCount() ? "," : "");
                }
                sb.append(']');
            }
        }
        return sb.toString();
    }

    /** Create, write and read back in one connection (DDL, text and prepared DML). */
    private static void sameConnection(String options) throws SQLException {
        String tag = options.isEmpty() ? "plain" : options;
        try (Connection c = connect(options); Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS j_one");
            st.execute("CREATE TABLE j_one (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(10,2), t DATETIME(3))");
            out(tag + " same connection, table right after CREATE", rows(st, "SELECT * FROM j_one"));
            int n = st.executeUpdate("INSERT INTO j_one VALUES (1, 'one', 1.5, '2024-01-02 03:04:05.678'), (2, 'two', NULL, NULL)");
            out(tag + " insert count", n);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO j_one VALUES (?, ?, ?, NULL)")) {
                for (int i = 3; i <= 5; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "p" + i);
                    ps.setBigDecimal(3, new java.math.BigDecimal(i + ".25"));
                    ps.addBatch();
                }
                out(tag + " batch", Arrays.toString(ps.executeBatch()));
            }
            out(tag + " same connection, rows right after INSERT", rows(st, "SELECT * FROM j_one ORDER BY id"));
            try (PreparedStatement ps = c.prepareStatement("SELECT v, d FROM j_one WHERE id > ? ORDER BY id")) {
                ps.setInt(1, 2);
                try (ResultSet rs = ps.executeQuery()) {
                    StringBuilder sb = new StringBuilder();
                    while (rs.next()) {
                        sb.append(rs.getString(1)).append('=').append(rs.getBigDecimal(2)).append(' ');
                    }
                    out(tag + " prepared read", sb);
                }
            }
            out(tag + " update count", st.executeUpdate("UPDATE j_one SET v = 'changed' WHERE id <= 2"));
            out(tag + " after UPDATE", rows(st, "SELECT id, v FROM j_one WHERE id <= 2 ORDER BY id"));
            c.setAutoCommit(false);
            st.executeUpdate("INSERT INTO j_one (id, v) VALUES (6, 'txn')");
            c.commit();
            c.setAutoCommit(true);
            out(tag + " after COMMIT", rows(st, "SELECT id, v FROM j_one WHERE id = 6"));
            try {
                st.executeQuery("SELECT * FROM j_no_such_table");
                out(tag + " error", "none");
            } catch (SQLException e) {
                out(tag + " error", e.getErrorCode() + " " + e.getSQLState());
            }
        }
    }

    /** Writes on one connection, reads on a new one right after: every read sees the write. */
    private static void acrossConnections() throws SQLException {
        try (Connection c = connect(""); Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS j_two");
        }
        try (Connection w = connect(""); Statement st = w.createStatement()) {
            st.execute("CREATE TABLE j_two (id INT PRIMARY KEY)");
        }
        try (Connection r = connect(""); Statement st = r.createStatement()) {
            out("across connections, table right after CREATE", rows(st, "SELECT COUNT(*) AS n FROM j_two"));
        }
        int seen = 0;
        int pairs = 30;
        for (int i = 1; i <= pairs; i++) {
            try (Connection w = connect(""); Statement st = w.createStatement()) {
                st.executeUpdate("INSERT INTO j_two VALUES (" + i + ")");
            }
            try (Connection r = connect(""); Statement st = r.createStatement();
                 ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM j_two WHERE id = " + i)) {
                rs.next();
                seen += rs.getInt(1);
            }
        }
        out("across connections, writes seen by the next connection", seen + " of " + pairs);
    }

    /** The product version the driver reports is the server's VERSION(). */
    private static void version() throws SQLException {
        try (Connection c = connect(""); Statement st = c.createStatement()) {
            DatabaseMetaData md = c.getMetaData();
            String product = md.getDatabaseProductVersion();
            String version;
            try (ResultSet rs = st.executeQuery("SELECT VERSION()")) {
                rs.next();
                version = rs.getString(1);
            }
            out("getDatabaseProductVersion() equals SELECT VERSION()", product.equals(version)
                    ? "yes" : "no: " + product + " vs " + version);
            out("product version", product);
            out("major.minor", md.getDatabaseMajorVersion() + "." + md.getDatabaseMinorVersion());
            out("product name", md.getDatabaseProductName());
        }
    }

    private static String md5(byte[] bytes) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (byte b : MessageDigest.getInstance("MD5").digest(bytes)) {
            sb.append(String.format("%02x", b));
        }
        return sb.toString();
    }

    /** A 20 MB value inserted and read back (packets over 16 MB both ways), and a 17 MB
     *  value built by the server. */
    private static void largePackets(String options) throws Exception {
        String tag = options.isEmpty() ? "plain" : options;
        int size = 20 * 1024 * 1024;
        byte[] big = new byte[size];
        for (int i = 0; i < size; i++) {
            big[i] = (byte) (i * 31 % 251);
        }
        try (Connection c = connect(options); Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS j_big");
            st.execute("CREATE TABLE j_big (id INT PRIMARY KEY, v LONGBLOB)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO j_big VALUES (1, ?)")) {
                ps.setBytes(1, big);
                out(tag + " 20 MB insert", ps.executeUpdate());
            }
            try (ResultSet rs = st.executeQuery("SELECT v, LENGTH(v), MD5(v) FROM j_big WHERE id = 1")) {
                rs.next();
                byte[] back = rs.getBytes(1);
                out(tag + " 20 MB read back equal", Arrays.equals(big, back));
                out(tag + " 20 MB length and md5 (server)", rs.getLong(2) + " " + rs.getString(3));
                out(tag + " 20 MB md5 (client)", md5(back));
            }
            try (ResultSet rs = st.executeQuery("SELECT REPEAT('q', 17 * 1024 * 1024) AS v")) {
                rs.next();
                String v = rs.getString(1);
                out(tag + " 17 MB server-built value", v.length() + " " + md5(v.getBytes("UTF-8")));
            }
        }
    }

    /** Polls SHOW PROCESSLIST until session `id` runs a statement containing `needle`. */
    private static boolean waitRunning(Statement st, long id, String needle) throws Exception {
        long deadline = System.currentTimeMillis() + 15000;
        while (System.currentTimeMillis() < deadline) {
            try (ResultSet rs = st.executeQuery("SHOW FULL PROCESSLIST")) {
                while (rs.next()) {
                    String info = rs.getString("Info");
                    if (rs.getLong("Id") == id && info != null && info.contains(needle)) {
                        return true;
                    }
                }
            }
            Thread.sleep(50);
        }
        return false;
    }

    /** What a statement interrupted by KILL QUERY looks like to the client. */
    private static String interrupted(Statement s, String sql) {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getInt(1) == 1 ? "interrupted" : "finished";
        } catch (SQLException e) {
            return e.getErrorCode() == 1317 ? "interrupted" : "error " + e.getErrorCode();
        }
    }

    /** CONNECTION_ID() from one connection, then KILL QUERY and KILL from another. */
    private static void kill() throws Exception {
        try (Connection a = connect(""); Connection b = connect(""); Statement bs = b.createStatement()) {
            long id;
            try (Statement s = a.createStatement(); ResultSet rs = s.executeQuery("SELECT CONNECTION_ID()")) {
                rs.next();
                id = rs.getLong(1);
            }
            String[] outcome = new String[1];
            Thread t = new Thread(() -> {
                try (Statement s = a.createStatement()) {
                    outcome[0] = interrupted(s, "SELECT SLEEP(30)");
                } catch (SQLException e) {
                    outcome[0] = "error " + e.getErrorCode();
                }
            });
            t.start();
            out("KILL QUERY: the CONNECTION_ID() is listed running", waitRunning(bs, id, "SLEEP(30)"));
            bs.execute("KILL QUERY " + id);
            t.join(60000);
            out("KILL QUERY <CONNECTION_ID()>", outcome[0]);
            try (Statement s = a.createStatement()) {
                out("after KILL QUERY", rows(s, "SELECT 1 AS one"));
            }
            bs.execute("KILL " + id);
            String after;
            try (Statement s = a.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
                after = "still open";
            } catch (SQLException e) {
                after = "closed";
            }
            out("after KILL <CONNECTION_ID()>", after);
            out("the killing connection", rows(bs, "SELECT 2 AS two"));
        }
    }

    /** Statement.cancel(): the driver sends KILL QUERY with the greeting's id on a new
     *  connection of its own. */
    private static void cancel() throws Exception {
        try (Connection a = connect(""); Connection b = connect(""); Statement bs = b.createStatement();
             Statement s = a.createStatement()) {
            long id;
            try (Statement q = a.createStatement(); ResultSet rs = q.executeQuery("SELECT CONNECTION_ID()")) {
                rs.next();
                id = rs.getLong(1);
            }
            String[] outcome = new String[1];
            Thread t = new Thread(() -> outcome[0] = interrupted(s, "SELECT SLEEP(31)"));
            t.start();
            out("cancel: listed running", waitRunning(bs, id, "SLEEP(31)"));
            s.cancel();
            t.join(60000);
            out("Statement.cancel()", outcome[0]);
            try (Statement q = a.createStatement()) {
                out("after cancel", rows(q, "SELECT 1 AS one"));
            }
        }
    }

    /** TLS with the CA verified (no host name check): a query works; with another CA the
     *  connection is refused, so the first one really verified the proxy's certificate. */
    private static void tls(Driver driver, String ca, String otherCa) throws SQLException {
        // Connector/J 3 spells verify-ca `sslMode=verify-ca`; 2.x has no sslMode (it would be
        // ignored, silently plaintext) and spells it useSsl + serverSslCert without host name
        // verification.
        String verifyCa = driver.getMajorVersion() >= 3
                ? "sslMode=verify-ca&serverSslCert=" + ca
                : "useSsl=true&serverSslCert=" + ca + "&disableSslHostnameVerification=true";
        try (Connection c = connect(verifyCa); Statement st = c.createStatement()) {
            out("verify-ca with the CA", rows(st, "SELECT 40 + 2 AS answer"));
            st.execute("DROP TABLE IF EXISTS j_tls");
            st.execute("CREATE TABLE j_tls (id INT PRIMARY KEY)");
            st.executeUpdate("INSERT INTO j_tls VALUES (1)");
            out("verify-ca, create-then-read", rows(st, "SELECT id FROM j_tls"));
        }
        try (Connection c = connect(verifyCa + "&useCompression=true"); Statement st = c.createStatement()) {
            out("verify-ca with compression", rows(st, "SELECT LENGTH(REPEAT('z', 5000000)) AS n"));
        }
        String wrong = verifyCa.replace(ca, otherCa);
        try (Connection c = connect(wrong)) {
            out("verify-ca with another CA", "connected (the certificate was not verified)");
        } catch (SQLException e) {
            out("verify-ca with another CA", "refused");
        }
    }
}
