#!/usr/bin/env python3
"""Measure a server process's RSS per idle client connection.

Opens N client connections to HOST:PORT, completes the MySQL handshake on each
(mysql_native_password, raw sockets, standard library only), keeps them idle, and
reports (VmRSS after - VmRSS before) / connections held, read from
/proc/<pid>/status of the process under test.

    idleconns.py --addr 127.0.0.1:6033 --pid 1234 --count 1000 --user app --password app --db app

Prints one JSON object on stdout. Never fails on a refused / rejected connection:
it stops opening more, and reports how many it held and the first error.
"""
import argparse
import hashlib
import json
import resource
import socket
import struct
import sys
import time

CLIENT_LONG_PASSWORD = 0x1
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000


def vmrss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return buf


def read_packet(sock):
    hdr = recv_exact(sock, 4)
    length = hdr[0] | (hdr[1] << 8) | (hdr[2] << 16)
    return hdr[3], recv_exact(sock, length)


def write_packet(sock, seq, payload):
    sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)


def native_scramble(password, salt):
    if not password:
        return b""
    p1 = hashlib.sha1(password.encode()).digest()
    p2 = hashlib.sha1(p1).digest()
    p3 = hashlib.sha1(salt + p2).digest()
    return bytes(a ^ b for a, b in zip(p1, p3))


def err_text(payload):
    code = struct.unpack_from("<H", payload, 1)[0]
    msg = payload[3:]
    if msg[:1] == b"#":
        msg = msg[6:]
    return f"ERR {code}: {msg.decode(errors='replace')}"


def handshake(sock, user, password, db):
    seq, pkt = read_packet(sock)
    if pkt[:1] == b"\xff":
        raise RuntimeError("greeting: " + err_text(pkt))
    if pkt[0] != 10:
        raise RuntimeError(f"unexpected protocol version {pkt[0]}")
    pos = pkt.index(b"\0", 1) + 1  # server version
    pos += 4  # connection id
    salt1 = pkt[pos:pos + 8]
    pos += 8 + 1
    caps = struct.unpack_from("<H", pkt, pos)[0]
    pos += 2
    plugin = b"mysql_native_password"
    salt2 = b""
    if len(pkt) > pos:
        pos += 1 + 2  # charset, status
        caps |= struct.unpack_from("<H", pkt, pos)[0] << 16
        pos += 2
        auth_len = pkt[pos]
        pos += 1 + 10
        if caps & CLIENT_SECURE_CONNECTION:
            n = max(13, auth_len - 8)
            salt2 = pkt[pos:pos + n].rstrip(b"\0")
            pos += n
        if caps & CLIENT_PLUGIN_AUTH and pos < len(pkt):
            end = pkt.find(b"\0", pos)
            plugin = pkt[pos:end if end >= 0 else len(pkt)]
    salt = (salt1 + salt2)[:20]
    flags = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS
             | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH)
    if db:
        flags |= CLIENT_CONNECT_WITH_DB
    flags &= caps | CLIENT_PLUGIN_AUTH  # never ask for what the server does not offer
    auth = native_scramble(password, salt) if plugin == b"mysql_native_password" else b""
    resp = struct.pack("<IIB", flags, 1 << 24, 45) + b"\0" * 23
    resp += user.encode() + b"\0" + bytes([len(auth)]) + auth
    if flags & CLIENT_CONNECT_WITH_DB:
        resp += db.encode() + b"\0"
    resp += b"mysql_native_password\0"
    seq += 1
    write_packet(sock, seq, resp)
    while True:
        seq, pkt = read_packet(sock)
        if pkt[:1] == b"\x00":
            return
        if pkt[:1] == b"\xff":
            raise RuntimeError("auth: " + err_text(pkt))
        if pkt[:1] == b"\xfe":  # AuthSwitchRequest
            end = pkt.index(b"\0", 1)
            name = pkt[1:end]
            if name != b"mysql_native_password":
                raise RuntimeError(f"auth switch to unsupported plugin {name!r}")
            new_salt = pkt[end + 1:].rstrip(b"\0")[:20]
            seq += 1
            write_packet(sock, seq, native_scramble(password, new_salt))
            continue
        raise RuntimeError(f"unexpected auth reply 0x{pkt[0]:02x}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--user", default="app")
    ap.add_argument("--password", default="app")
    ap.add_argument("--db", default="app")
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--label", default="")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, a.count + 256)) if hard != resource.RLIM_INFINITY else a.count + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    host, port = a.addr.rsplit(":", 1)
    port = int(port)
    time.sleep(a.settle)
    before = vmrss_kb(a.pid)
    socks, first_error = [], None
    t0 = time.monotonic()
    for _ in range(a.count):
        s = None
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handshake(s, a.user, a.password, a.db)
            socks.append(s)
        except Exception as e:  # noqa: BLE001 - report, do not crash
            first_error = f"connection #{len(socks) + 1}: {type(e).__name__}: {e}"
            if s is not None:
                s.close()
            break
    elapsed = time.monotonic() - t0
    time.sleep(a.settle)
    # are they still alive? a closed socket shows readable + EOF
    alive = 0
    for s in socks:
        try:
            s.setblocking(False)
            data = s.recv(1, socket.MSG_PEEK)
            if data:
                alive += 1  # unexpected data, but still connected
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    after = vmrss_kb(a.pid)
    for s in socks:
        s.close()
    held = len(socks)
    out = {
        "label": a.label,
        "addr": a.addr,
        "pid": a.pid,
        "requested": a.count,
        "held": held,
        "alive_after_settle": alive,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "rss_per_conn_kb": round((after - before) / held, 2) if held else None,
        "connect_seconds": round(elapsed, 3),
        "first_error": first_error,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
