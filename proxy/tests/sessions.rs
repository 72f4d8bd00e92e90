//! Session-level behaviour through the proxy against a real 2-node cluster: prepared
//! statements (proxy ids, 0xFFFFFFFF, transparent re-prepare with injected parameter types
//! after the backend connection is lost, closing frees backend statements), recorded session
//! settings replayed on the new connection, COM_CHANGE_USER and `KILL <proxy id>`.

mod support;

use myquorum_proxy::packet::{parse_err, PacketIo};
use myquorum_sandbox::{root_conn, Cluster};
use mysql_async::prelude::Queryable;
use mysql_common::constants::CapabilityFlags;
use support::{raw_login, raw_login_with, Proxy};

/// Sends COM_STMT_PREPARE and reads the whole answer; returns (statement id, params).
async fn prepare(io: &mut PacketIo, sql: &str) -> (u32, u16) {
    let mut cmd = vec![0x16];
    cmd.extend_from_slice(sql.as_bytes());
    io.send_packet(0, &cmd).await.expect("send prepare");
    let ok = io.read_packet(1 << 20).await.expect("prepare answer");
    assert_eq!(ok.payload[0], 0x00, "{:?}", parse_err(&ok.payload));
    let id = u32::from_le_bytes([ok.payload[1], ok.payload[2], ok.payload[3], ok.payload[4]]);
    let columns = u16::from_le_bytes([ok.payload[5], ok.payload[6]]);
    let params = u16::from_le_bytes([ok.payload[7], ok.payload[8]]);
    // The raw client did not negotiate DEPRECATE_EOF: each block ends with an EOF.
    let mut left = 0;
    for block in [params, columns] {
        if block > 0 {
            left += usize::from(block) + 1;
        }
    }
    for _ in 0..left {
        io.read_packet(1 << 20).await.expect("definition");
    }
    (id, params)
}

/// COM_STMT_EXECUTE of a one-parameter statement with a LONGLONG value; `send_types` sets
/// new_params_bound. Returns the first column of the single row as text, or the error.
async fn execute_one(
    io: &mut PacketIo,
    id: u32,
    value: i64,
    send_types: bool,
) -> Result<Vec<u8>, (u16, String)> {
    let mut cmd = vec![0x17];
    cmd.extend_from_slice(&id.to_le_bytes());
    cmd.push(0);
    cmd.extend_from_slice(&1u32.to_le_bytes());
    cmd.push(0); // null bitmap
    if send_types {
        cmd.push(1);
        cmd.extend_from_slice(&[0x08, 0x00]);
    } else {
        cmd.push(0);
    }
    cmd.extend_from_slice(&value.to_le_bytes());
    io.send_packet(0, &cmd).await.expect("send execute");
    let first = io.read_packet(1 << 20).await.expect("execute answer");
    if let Some((code, _, message)) = parse_err(&first.payload) {
        return Err((code, message));
    }
    let columns = usize::from(first.payload[0]);
    for _ in 0..columns + 1 {
        io.read_packet(1 << 20)
            .await
            .expect("column definition / EOF");
    }
    let row = io.read_packet(1 << 20).await.expect("row");
    let eof = io.read_packet(1 << 20).await.expect("EOF");
    assert_eq!(eof.payload[0], 0xFE);
    Ok(row.payload.to_vec())
}

/// Kills, as root on the server, the backend thread a proxied connection is using.
async fn kill_backend_of(cluster: &Cluster, thread: u64) {
    let mut root = root_conn(cluster.primary()).await.expect("root");
    root.query_drop(format!("KILL {thread}"))
        .await
        .expect("kill");
    root.disconnect().await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_lost_backend_and_map_ids() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;

    // Prepared statements get proxy ids; after the backend connection is killed the next
    // EXECUTE fails once (2013), then the statement is re-prepared transparently, even for
    // an EXECUTE that relies on earlier-bound types.
    let mut raw = raw_login(proxy.addr).await;
    raw.send_packet(0, b"\x03SET SESSION sql_mode='ANSI_QUOTES'")
        .await
        .expect("set");
    assert_eq!(raw.read_packet(1 << 20).await.expect("ok").payload[0], 0x00);
    let (id, params) = prepare(&mut raw, "SELECT ? + 1").await;
    assert_eq!(
        (id, params),
        (1, 1),
        "the first statement of a session is proxy id 1"
    );
    // EVENTUAL: the read runs on the replica (prepared there on first use) with the types
    // it carries; then, under STRONG, on the primary, which never saw types: they are
    // injected into the EXECUTE that does not resend them.
    let row = execute_one(&mut raw, id, 41, true).await.expect("execute");
    assert_eq!(row, [0x00, 0x00, 42, 0, 0, 0, 0, 0, 0, 0]);
    raw.send_packet(0, b"\x03SET myquorum_consistency = 'STRONG'")
        .await
        .expect("set");
    assert_eq!(raw.read_packet(1 << 20).await.expect("ok").payload[0], 0x00);
    let row = execute_one(&mut raw, id, 9, false)
        .await
        .expect("types injected on the primary");
    assert_eq!(row, [0x00, 0x00, 10, 0, 0, 0, 0, 0, 0, 0]);
    // `+ 0`: an expression, so the primary answers with its thread id (a plain
    // CONNECTION_ID() is answered by the proxy with its own id).
    raw.send_packet(
        0,
        b"\x03/* myquorum:consistency=STRONG */ SELECT CONNECTION_ID() + 0",
    )
    .await
    .expect("query");
    let mut packets = Vec::new();
    for _ in 0..5 {
        packets.push(raw.read_packet(1 << 20).await.expect("result"));
    }
    let thread: u64 = String::from_utf8_lossy(&packets[3].payload[1..])
        .parse()
        .expect("a thread id");
    kill_backend_of(&cluster, thread).await;
    // The session finds its primary connection closed before a byte of the EXECUTE is sent
    // (no transaction, no pin): the statement runs on a new connection, re-prepared there.
    let row = execute_one(&mut raw, id, 1, false)
        .await
        .expect("runs on a new backend connection");
    assert_eq!(row, [0x00, 0x00, 2, 0, 0, 0, 0, 0, 0, 0]);
    let row = execute_one(&mut raw, 0xFFFF_FFFF, 99, false)
        .await
        .expect("re-prepared, types injected");
    assert_eq!(row, [0x00, 0x00, 100, 0, 0, 0, 0, 0, 0, 0]);
    raw.send_packet(0, b"\x03SELECT @@SESSION.sql_mode")
        .await
        .expect("query");
    let mut packets = Vec::new();
    for _ in 0..5 {
        packets.push(raw.read_packet(1 << 20).await.expect("result"));
    }
    assert_eq!(
        &packets[3].payload[1..],
        b"ANSI_QUOTES",
        "settings replayed"
    );
    let unknown = execute_one(&mut raw, 77, 1, true)
        .await
        .expect_err("unknown id");
    assert_eq!(unknown.0, 1243);

    // Closing statements frees them on the backend: with max_prepared_stmt_count lowered,
    // a client that prepares and closes many statements never hits the limit, one that keeps
    // them open gets the server's 1461.
    let mut root = root_conn(cluster.primary()).await.expect("root");
    root.query_drop("SET GLOBAL max_prepared_stmt_count = 5")
        .await
        .expect("lower limit");
    let mut app = mysql_async::Conn::new(proxy.opts()).await.expect("connect");
    for i in 0..20 {
        let stmt = app
            .prep(format!("SELECT {i} + ?"))
            .await
            .expect("prepare within the limit");
        let v: Option<i64> = app.exec_first(&stmt, (1,)).await.expect("execute");
        assert_eq!(v, Some(i + 1));
        app.close(stmt).await.expect("close");
    }
    let mut kept = Vec::new();
    let mut refused = None;
    for i in 0..10 {
        match app.prep(format!("SELECT {i} * ?")).await {
            Ok(s) => kept.push(s),
            Err(mysql_async::Error::Server(e)) => {
                refused = Some(e.code);
                break;
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(
        refused,
        Some(1461),
        "the server's own limit error reaches the client"
    );
    for s in kept {
        app.close(s).await.expect("close");
    }
    root.query_drop("SET GLOBAL max_prepared_stmt_count = DEFAULT")
        .await
        .expect("restore");

    // COM_CHANGE_USER re-authenticates (wrong password: 1045) and starts the session over.
    app.query_drop("SET @@session.sql_mode='ANSI_QUOTES'")
        .await
        .expect("set");
    app.change_user(
        mysql_async::ChangeUserOpts::default()
            .with_user(Some("app".to_owned()))
            .with_pass(Some("app".to_owned()))
            .with_db_name(Some("app".to_owned())),
    )
    .await
    .expect("change user");
    let mode: Option<String> = app
        .query_first("SELECT @@SESSION.sql_mode")
        .await
        .expect("mode");
    assert_ne!(
        mode.as_deref(),
        Some("ANSI_QUOTES"),
        "session state reset by COM_CHANGE_USER"
    );
    let db: Option<String> = app.query_first("SELECT DATABASE()").await.expect("db");
    assert_eq!(db.as_deref(), Some("app"));

    let mut wrong = mysql_async::Conn::new(proxy.opts()).await.expect("connect");
    let refused = wrong
        .change_user(
            mysql_async::ChangeUserOpts::default()
                .with_user(Some("app".to_owned()))
                .with_pass(Some("not-the-password".to_owned())),
        )
        .await;
    match refused {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!((e.code, e.state.as_str()), (1045, "28000"))
        }
        other => panic!("expected 1045, got {other:?}"),
    }

    // KILL <proxy id>: the id the client saw in the greeting.
    let mut victim = mysql_async::Conn::new(proxy.opts()).await.expect("connect");
    let victim_id = victim.id();
    app.query_drop(format!("KILL {victim_id}"))
        .await
        .expect("kill by proxy id");
    assert!(
        victim.query_drop("SELECT 1").await.is_err(),
        "the victim is disconnected"
    );
    match app.query_drop("KILL 999999").await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1094),
        other => panic!("expected 1094, got {other:?}"),
    }
    app.disconnect().await.expect("disconnect");

    proxy.stop().await;
    cluster.stop().await.expect("cluster stops");
}

/// A prepared statement's cursor stays on the connection that opened it: the session keeps
/// that connection (pin `statement_cursor`) while other sessions of the same thread take
/// connections between their statements, every FETCH reads the cursor, and closing the
/// statement lets the session share its connections again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_fetches_stay_on_their_connection() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let mut config = support::proxy_config(&cluster);
    // One session thread: both raw clients draw from the same pool.
    config.io_threads = 1;
    let proxy = Proxy::start_with(config).await;
    let mut setup = proxy.conn().await;
    setup
        .query_drop("CREATE TABLE app.cur (v INT PRIMARY KEY)")
        .await
        .expect("create");
    setup
        .query_drop("INSERT INTO app.cur VALUES (1), (2), (3), (4), (5)")
        .await
        .expect("insert");

    let mut reader = raw_login(proxy.addr).await;
    let (id, _) = prepare(&mut reader, "SELECT v FROM app.cur WHERE v > ? ORDER BY v").await;
    // EXECUTE with CURSOR_TYPE_READ_ONLY: columns and an EOF, the rows wait for FETCH.
    let mut cmd = vec![0x17];
    cmd.extend_from_slice(&id.to_le_bytes());
    cmd.push(0x01);
    cmd.extend_from_slice(&1u32.to_le_bytes());
    cmd.extend_from_slice(&[0, 1, 0x08, 0x00]);
    cmd.extend_from_slice(&0i64.to_le_bytes());
    reader.send_packet(0, &cmd).await.expect("execute");
    let first = reader.read_packet(1 << 20).await.expect("answer");
    assert_eq!(first.payload[0], 1, "{:?}", parse_err(&first.payload));
    reader.read_packet(1 << 20).await.expect("column");
    let eof = reader.read_packet(1 << 20).await.expect("EOF");
    assert_eq!(eof.payload[0], 0xFE);
    let status = u16::from_le_bytes([eof.payload[3], eof.payload[4]]);
    assert_ne!(status & 0x40, 0, "SERVER_STATUS_CURSOR_EXISTS");

    // Another client of the same thread logs in and writes (a write keeps its connection):
    // without the pin it would take the connection the reader's cursor is on.
    let mut writer = raw_login(proxy.addr).await;
    writer
        .send_packet(0, b"\x03INSERT INTO app.cur VALUES (6)")
        .await
        .expect("insert");
    let ok = writer.read_packet(1 << 20).await.expect("ok");
    assert_eq!(ok.payload[0], 0x00, "{:?}", parse_err(&ok.payload));

    let fetch = |rows: u32| {
        let mut cmd = vec![0x1C];
        cmd.extend_from_slice(&id.to_le_bytes());
        cmd.extend_from_slice(&rows.to_le_bytes());
        cmd
    };
    let mut seen = Vec::new();
    for rows in [2, 10] {
        reader.send_packet(0, &fetch(rows)).await.expect("fetch");
        loop {
            let p = reader.read_packet(1 << 20).await.expect("row or EOF");
            assert!(
                parse_err(&p.payload).is_none(),
                "{:?}",
                parse_err(&p.payload)
            );
            if p.payload[0] == 0xFE && p.payload.len() < 9 {
                break;
            }
            // A binary row: header, null bitmap (1 byte for one column), INT value.
            seen.push(i32::from_le_bytes([
                p.payload[2],
                p.payload[3],
                p.payload[4],
                p.payload[5],
            ]));
        }
    }
    // The cursor was opened before the writer's row: it reads the five rows it saw.
    assert_eq!(seen, [1, 2, 3, 4, 5]);

    // Closed: the session is unpinned and shares its connections again.
    let mut close = vec![0x19];
    close.extend_from_slice(&id.to_le_bytes());
    reader.send_packet(0, &close).await.expect("close");
    reader
        .send_packet(0, b"\x03SELECT 1")
        .await
        .expect("select");
    for _ in 0..5 {
        let p = reader.read_packet(1 << 20).await.expect("result");
        assert!(parse_err(&p.payload).is_none());
    }
    setup.disconnect().await.expect("disconnect");
    drop((reader, writer));
    proxy.stop().await;
    drop(cluster);
}

/// One packet of a cursor transcript: its first byte and, for a terminator (0xFE or OK),
/// the status flags it carries; rows and definitions by their first value byte only.
#[derive(Debug, PartialEq)]
enum Seen {
    Terminator { header: u8, status: u16 },
    Packet { header: u8 },
}

async fn read_seen(io: &mut PacketIo) -> Seen {
    let p = tokio::time::timeout(std::time::Duration::from_secs(10), io.read_packet(1 << 20))
        .await
        .expect("an answer within 10 s")
        .expect("packet");
    let payload = &p.payload;
    assert!(parse_err(payload).is_none(), "{:?}", parse_err(payload));
    if payload[0] == 0xFE && payload.len() < 9 {
        // A classic EOF (warnings, status) and DEPRECATE_EOF's OK with header 0xFE (affected
        // rows and insert id, one byte each when zero, then the status) both hold the status
        // at bytes 3 and 4.
        return Seen::Terminator {
            header: 0xFE,
            status: u16::from_le_bytes([payload[3], payload[4]]),
        };
    }
    Seen::Packet { header: payload[0] }
}

/// Runs prepare, a cursor EXECUTE, two FETCHes and CLOSE with CLIENT_DEPRECATE_EOF on `io`
/// and returns what came back: the same sequence must come from the server and the proxy.
async fn deprecate_eof_cursor_transcript(io: &mut PacketIo) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut cmd = vec![0x16];
    cmd.extend_from_slice(b"SELECT v FROM app.cur_eof WHERE v > ? ORDER BY v");
    io.send_packet(0, &cmd).await.expect("send prepare");
    let ok = io.read_packet(1 << 20).await.expect("prepare answer");
    assert_eq!(ok.payload[0], 0x00, "{:?}", parse_err(&ok.payload));
    let id = u32::from_le_bytes([ok.payload[1], ok.payload[2], ok.payload[3], ok.payload[4]]);
    // One parameter and one column, no EOF after either with DEPRECATE_EOF.
    for _ in 0..2 {
        seen.push(read_seen(io).await);
    }
    let mut cmd = vec![0x17];
    cmd.extend_from_slice(&id.to_le_bytes());
    cmd.push(0x01); // CURSOR_TYPE_READ_ONLY
    cmd.extend_from_slice(&1u32.to_le_bytes());
    cmd.extend_from_slice(&[0, 1, 0x08, 0x00]);
    cmd.extend_from_slice(&0i64.to_le_bytes());
    io.send_packet(0, &cmd).await.expect("execute");
    // Column count, the column, and what ends the answer.
    for _ in 0..3 {
        seen.push(read_seen(io).await);
    }
    for rows in [2u32, 10] {
        let mut cmd = vec![0x1C];
        cmd.extend_from_slice(&id.to_le_bytes());
        cmd.extend_from_slice(&rows.to_le_bytes());
        io.send_packet(0, &cmd).await.expect("fetch");
        loop {
            let s = read_seen(io).await;
            let end = matches!(s, Seen::Terminator { .. });
            seen.push(s);
            if end {
                break;
            }
        }
    }
    let mut close = vec![0x19];
    close.extend_from_slice(&id.to_le_bytes());
    io.send_packet(0, &close).await.expect("close");
    io.send_packet(0, b"\x03SELECT 1").await.expect("select");
    // Column count, column, row, OK-as-EOF.
    for _ in 0..4 {
        seen.push(read_seen(io).await);
    }
    seen
}

/// A cursor with CLIENT_DEPRECATE_EOF (the framing modern connectors negotiate): the proxy's
/// answers have the same packets and status flags as the server's, and FETCH reads every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_with_deprecate_eof_frames_as_the_server_does() {
    let cluster = Cluster::start_for_tests(2).await.expect("cluster starts");
    let proxy = Proxy::start(&cluster).await;
    let mut setup = proxy.conn().await;
    setup
        .query_drop("CREATE TABLE app.cur_eof (v INT PRIMARY KEY)")
        .await
        .expect("create");
    setup
        .query_drop("INSERT INTO app.cur_eof VALUES (1), (2), (3), (4), (5)")
        .await
        .expect("insert");
    cluster.wait_replicated().await.expect("replicated");
    let eof = CapabilityFlags::CLIENT_DEPRECATE_EOF;
    let primary: std::net::SocketAddr = cluster.primary().addr().parse().expect("addr");
    let mut direct = raw_login_with(primary, "app", "app", eof).await;
    let mut through = raw_login_with(proxy.addr, "app", "app", eof).await;
    let expected = deprecate_eof_cursor_transcript(&mut direct).await;
    let got = deprecate_eof_cursor_transcript(&mut through).await;
    // The cursor's answer ends with a terminator flagged SERVER_STATUS_CURSOR_EXISTS, and the
    // five rows come back in two fetches (2 + 3, then the last fetch's terminator).
    assert!(
        matches!(expected[4], Seen::Terminator { status, .. } if status & 0x40 != 0),
        "{expected:?}"
    );
    assert_eq!(got, expected);
    setup.disconnect().await.expect("disconnect");
    drop((direct, through));
    proxy.stop().await;
    drop(cluster);
}
