//! MySQL packet framing over a byte stream, with our own read and write buffers.
//!
//! A logical packet is one or more frames of `len:u24 seq:u8 payload`; a frame of exactly
//! 0xFFFFFF bytes is followed by another frame of the same packet. [`PacketIo`] reads whole
//! packets for the small conversations (handshake, commands) and exposes its read buffer to
//! [`crate::relay`], which streams results frame by frame without holding them whole.
//!
//! [`PacketIo`] is generic over its stream: in production it is a `TcpStream` (the default
//! type parameter), in unit tests an in-memory stream carrying hand-built packets, and on the
//! client side a [`crate::tls::ClientStream`] (a socket that may switch to TLS), on the backend
//! side a [`crate::backend::BackendStream`] (the same for `[proxy.backend_tls]`). The liveness
//! probe of idle connections needs the socket under the stream ([`Socket`]).

use bytes::{Buf, BufMut, BytesMut};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest payload of one frame; a frame this long continues in the next one.
pub const MAX_FRAME: usize = 0xFF_FFFF;

/// Read-buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// What a released read buffer asks for first (see [`PacketIo::release_buffers`]): one
/// typical command.
const IDLE_CHUNK: usize = 512;

/// Buffer capacity above which [`PacketIo::shrink_buffers`] gives memory back.
pub const SHRINK_ABOVE: usize = 1024 * 1024;

/// One logical packet: its payload (frames joined) and the sequence id of its first frame.
#[derive(Debug)]
pub struct Packet {
    /// Sequence id of the first frame.
    pub seq: u8,
    /// Number of frames it arrived in (the next packet's sequence id is `seq + frames`).
    pub frames: u8,
    /// The joined payload.
    pub payload: BytesMut,
}

impl Packet {
    /// Sequence id that follows this packet.
    pub fn next_seq(&self) -> u8 {
        self.seq.wrapping_add(self.frames)
    }
}

/// Reading a packet failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Socket error or EOF.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The peer sent a packet larger than allowed.
    #[error("packet of more than {0} bytes")]
    TooLarge(usize),
}

/// What [`PacketIo`] can frame: any ordered, reliable byte stream. Named once so the relay
/// and the codec do not spell the three bounds out on every function.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin {}

impl<S: AsyncRead + AsyncWrite + Unpin> ByteStream for S {}

/// A byte stream (a TCP socket unless said otherwise) with MySQL framing and buffers.
#[derive(Debug)]
pub struct PacketIo<S = TcpStream> {
    stream: S,
    /// Bytes read from the stream and not yet consumed.
    pub rbuf: BytesMut,
    /// Bytes queued for the stream.
    pub wbuf: BytesMut,
    /// Bound on one flush (None: unbounded): a client that stops reading its results must
    /// not hold its session, and the backend connection under it, forever.
    write_timeout: Option<Duration>,
}

impl PacketIo<TcpStream> {
    /// Wraps a connected socket (Nagle off: the protocol is request/response).
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self::over(stream)
    }
}

/// A stream over one TCP socket (plain, or TLS over it): what the liveness probe of idle
/// connections ([`PacketIo::is_stale`]) looks at.
pub trait Socket {
    /// The socket under the stream; None once it is gone.
    fn socket(&self) -> Option<&TcpStream>;
}

impl Socket for TcpStream {
    fn socket(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl<S: Socket> PacketIo<S> {
    /// True when the peer has closed the socket or sent unsolicited bytes: such an idle
    /// connection must not be reused. Never blocks. (Over TLS any unread record counts too:
    /// an idle backend sends nothing, so a record is an alert or the connection's end.)
    pub fn is_stale(&self) -> bool {
        if !self.rbuf.is_empty() {
            return true;
        }
        let Some(socket) = self.stream.socket() else {
            return true;
        };
        let mut probe = [0u8; 1];
        match socket.try_read(&mut probe) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }
}

impl<S: ByteStream> PacketIo<S> {
    /// Wraps any byte stream as it is (no socket options): the constructor for in-memory
    /// test streams and, later, TLS streams; sockets go through [`PacketIo::new`].
    pub fn over(stream: S) -> Self {
        Self {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            write_timeout: None,
        }
    }

    /// Bounds every later flush by `timeout`; a flush that does not finish in time fails with
    /// `TimedOut` (client sockets: `proxy.limits.client_write_timeout_ms`).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// Frees both buffers when they hold nothing: a connection that goes idle for long
    /// (a parked session, see `pool.multiplex_idle_ms`) then costs no buffer memory until
    /// its next command, whose first read asks for [`IDLE_CHUNK`] bytes only.
    pub fn release_buffers(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.is_empty() {
            self.wbuf = BytesMut::new();
        }
    }

    /// Gives back buffer memory a large packet made grow (up to 16 MB and more per
    /// direction): a buffer whose capacity is over [`SHRINK_ABOVE`] is replaced by a fresh
    /// one of [`READ_CHUNK`] bytes, keeping any bytes still unread. Called when a connection
    /// goes idle (back to the pool, or a session between commands), so an idle connection
    /// costs kilobytes, not megabytes.
    pub fn shrink_buffers(&mut self) {
        for buf in [&mut self.rbuf, &mut self.wbuf] {
            if buf.capacity() > SHRINK_ABOVE && buf.len() <= READ_CHUNK {
                let mut fresh = BytesMut::with_capacity(READ_CHUNK);
                fresh.extend_from_slice(buf);
                *buf = fresh;
            }
        }
    }

    /// The underlying stream (for peer address and liveness checks, or a test's captured
    /// output).
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Bytes queued and not yet flushed: a packet is half-sent, and nothing else may be
    /// written to the stream before them.
    pub fn has_unsent(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// The underlying stream, mutably: to change it in place (a client switching to TLS after
    /// its SSLRequest, see [`crate::tls::ClientStream::start_tls`]; compression starting after
    /// the handshake's OK, see [`crate::compress`]).
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The same buffers over `f(stream)`: wraps the stream in another layer (compression)
    /// without losing bytes already read or queued.
    pub fn map_stream<T>(self, f: impl FnOnce(S) -> T) -> PacketIo<T> {
        PacketIo {
            stream: f(self.stream),
            rbuf: self.rbuf,
            wbuf: self.wbuf,
            write_timeout: self.write_timeout,
        }
    }

    /// Reads more bytes into `rbuf`; EOF is an `UnexpectedEof` error.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            // A released buffer (an idle connection waiting for its next command) starts
            // small: waiting costs no 64 KiB; the first read that fills it asks for more.
            let want = if self.rbuf.capacity() == 0 {
                IDLE_CHUNK
            } else {
                READ_CHUNK
            };
            self.rbuf.reserve(want);
        }
        let n = self.stream.read_buf(&mut self.rbuf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by peer",
            ));
        }
        Ok(n)
    }

    /// Reads one whole logical packet of at most `max_len` bytes.
    pub async fn read_packet(&mut self, max_len: usize) -> Result<Packet, ReadError> {
        let mut payload = BytesMut::new();
        let mut first_seq = None;
        let mut frames: u8 = 0;
        loop {
            while self.rbuf.len() < 4 {
                self.fill().await?;
            }
            let len = frame_len(&self.rbuf);
            let seq = self.rbuf[3];
            if payload.len() + len > max_len {
                return Err(ReadError::TooLarge(max_len));
            }
            while self.rbuf.len() < 4 + len {
                self.rbuf.reserve(4 + len - self.rbuf.len());
                self.fill().await?;
            }
            self.rbuf.advance(4);
            let body = self.rbuf.split_to(len);
            if payload.is_empty() && len < MAX_FRAME {
                payload = body;
            } else {
                payload.extend_from_slice(&body);
            }
            first_seq.get_or_insert(seq);
            frames = frames.wrapping_add(1);
            if len < MAX_FRAME {
                return Ok(Packet {
                    seq: first_seq.unwrap_or(seq),
                    frames,
                    payload,
                });
            }
        }
    }

    /// Queues `payload` as one logical packet starting at `seq`; returns the next sequence id.
    pub fn queue_packet(&mut self, seq: u8, payload: &[u8]) -> u8 {
        write_frames(&mut self.wbuf, seq, payload)
    }

    /// Sends everything queued. The stream is flushed too: layers that buffer (compression,
    /// TLS) send their frames then; for a socket it costs nothing.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let stream = &mut self.stream;
        let wbuf = &self.wbuf;
        // The stream is flushed too: a layer (compression, TLS) sends what it buffered.
        let write = async move {
            stream.write_all(wbuf).await?;
            stream.flush().await
        };
        match self.write_timeout {
            None => write.await?,
            Some(limit) => tokio::time::timeout(limit, write).await.map_err(|_| {
                io::Error::new(io::ErrorKind::TimedOut, "peer did not read in time")
            })??,
        }
        self.wbuf.clear();
        Ok(())
    }

    /// Queues and sends one packet.
    pub async fn send_packet(&mut self, seq: u8, payload: &[u8]) -> io::Result<u8> {
        let next = self.queue_packet(seq, payload);
        self.flush().await?;
        Ok(next)
    }

    /// Closes the write side (best effort).
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}

/// Payload length of the frame whose header starts `buf` (caller ensures 4 bytes).
pub fn frame_len(buf: &[u8]) -> usize {
    usize::from(buf[0]) | usize::from(buf[1]) << 8 | usize::from(buf[2]) << 16
}

/// Appends `payload` framed (split at 16 MB) to `dst`; returns the next sequence id.
pub fn write_frames(dst: &mut BytesMut, mut seq: u8, payload: &[u8]) -> u8 {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_FRAME);
        dst.reserve(4 + n);
        dst.put_uint_le(n as u64, 3);
        dst.put_u8(seq);
        dst.put_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_FRAME {
            return seq;
        }
    }
}

/// Builds an ERR packet payload (PROTOCOL_41 form).
pub fn err_payload(code: u16, state: &str, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(9 + message.len());
    p.push(0xFF);
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    let mut st = [b'H', b'Y', b'0', b'0', b'0'];
    for (dst, src) in st.iter_mut().zip(state.bytes()) {
        *dst = src;
    }
    p.extend_from_slice(&st);
    p.extend_from_slice(message.as_bytes());
    p
}

/// Reads code, SQLSTATE and message out of an ERR packet payload.
pub fn parse_err(payload: &[u8]) -> Option<(u16, String, String)> {
    if payload.len() < 3 || payload[0] != 0xFF {
        return None;
    }
    let code = u16::from_le_bytes([payload[1], payload[2]]);
    let rest = &payload[3..];
    if rest.first() == Some(&b'#') && rest.len() >= 6 {
        let state = String::from_utf8_lossy(&rest[1..6]).into_owned();
        Some((
            code,
            state,
            String::from_utf8_lossy(&rest[6..]).into_owned(),
        ))
    } else {
        Some((
            code,
            "HY000".to_owned(),
            String::from_utf8_lossy(rest).into_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that never reads: the bounded flush fails with TimedOut instead of waiting
    /// forever (the error kind is asserted, not how long it took).
    #[tokio::test]
    async fn a_flush_to_a_peer_that_never_reads_times_out() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut io = PacketIo::over(ours);
        io.set_write_timeout(Some(Duration::from_millis(50)));
        io.queue_packet(0, &vec![b'x'; 64 * 1024]);
        let e = io.flush().await.expect_err("the peer never reads");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn frames_split_at_16mb() {
        let payload = vec![7u8; MAX_FRAME + 10];
        let mut buf = BytesMut::new();
        let next = write_frames(&mut buf, 0, &payload);
        assert_eq!(next, 2);
        assert_eq!(frame_len(&buf), MAX_FRAME);
        assert_eq!(buf[3], 0);
        let second = &buf[4 + MAX_FRAME..];
        assert_eq!(frame_len(second), 10);
        assert_eq!(second[3], 1);
    }

    #[test]
    fn exact_multiple_gets_empty_trailer() {
        let payload = vec![1u8; MAX_FRAME];
        let mut buf = BytesMut::new();
        assert_eq!(write_frames(&mut buf, 3, &payload), 5);
        assert_eq!(buf.len(), 4 + MAX_FRAME + 4);
        assert_eq!(frame_len(&buf[4 + MAX_FRAME..]), 0);
    }

    /// An in-memory stream for the reader: `input` arrives at most `chunk` bytes per read,
    /// then EOF; writes are discarded.
    struct Replay {
        input: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    impl tokio::io::AsyncRead for Replay {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            let this = self.get_mut();
            let n = (this.input.len() - this.pos)
                .min(this.chunk)
                .min(buf.remaining());
            buf.put_slice(&this.input[this.pos..this.pos + n]);
            this.pos += n;
            std::task::Poll::Ready(Ok(()))
        }
    }

    impl tokio::io::AsyncWrite for Replay {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            data: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::task::Poll::Ready(Ok(data.len()))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Reads packets of at most `max_len` bytes from `input` until the first error, checking
    /// that none is longer than allowed and that the read buffer never grows past what one
    /// allowed packet and one read chunk need (BytesMut may double a reservation).
    fn read_all(input: Vec<u8>, chunk: usize, max_len: usize) -> Vec<Packet> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        let bound = 2 * (max_len + 4 + 2 * READ_CHUNK);
        rt.block_on(async {
            let mut io = PacketIo::over(Replay {
                input,
                pos: 0,
                chunk,
            });
            let mut packets = Vec::new();
            loop {
                let read = io.read_packet(max_len).await;
                assert!(
                    io.rbuf.capacity() <= bound,
                    "read buffer {}",
                    io.rbuf.capacity()
                );
                match read {
                    Ok(p) => {
                        assert!(p.payload.len() <= max_len);
                        assert!(p.payload.capacity() <= bound);
                        packets.push(p);
                    }
                    Err(_) => return packets,
                }
            }
        })
    }

    /// Frames as a peer may send them: lengths that match the bytes that follow or not,
    /// continuation frames (0xFFFFFF) included.
    fn frames() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let frame = (
            prop_oneof![
                0usize..300,
                Just(MAX_FRAME),
                Just(MAX_FRAME - 1),
                any::<u32>().prop_map(|n| n as usize & MAX_FRAME)
            ],
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(claimed, seq, body)| {
                let mut out = Vec::with_capacity(4 + body.len());
                out.extend_from_slice(&(claimed as u32).to_le_bytes()[..3]);
                out.push(seq);
                out.extend_from_slice(&body);
                out
            });
        prop::collection::vec(frame, 0..8).prop_map(|f| f.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Issue 15's fuzz target for the packet reader: any byte stream, any arrival
        /// pattern, any limit: no panic, no packet over the limit, no read buffer beyond it.
        #[test]
        fn reader_survives_any_stream(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            chunk in 1usize..300,
            max_len in proptest::prop_oneof![0usize..64, 64usize..5000, proptest::strategy::Just(70_000)],
        ) {
            read_all(bytes, chunk, max_len);
        }

        /// The same with plausible frames, so that whole packets, continuations and lying
        /// headers are reached often.
        #[test]
        fn reader_survives_any_frames(
            bytes in frames(),
            chunk in proptest::prop_oneof![1usize..8, proptest::strategy::Just(READ_CHUNK)],
            max_len in proptest::prop_oneof![0usize..300, proptest::strategy::Just(4096)],
        ) {
            read_all(bytes, chunk, max_len);
        }
    }

    /// A header announcing a 16 MB frame over a 1 KiB limit is refused before anything is
    /// reserved for it.
    #[test]
    fn an_oversized_header_reserves_nothing() {
        let mut input = vec![0xFF, 0xFF, 0xFF, 0];
        input.extend_from_slice(&[0u8; 100]);
        assert!(read_all(input, 4096, 1024).is_empty());
        let mut ok = Vec::new();
        let mut buf = BytesMut::new();
        write_frames(&mut buf, 0, b"SELECT 1");
        ok.extend_from_slice(&buf);
        let packets = read_all(ok, 1, 1024);
        assert_eq!(packets.len(), 1);
        assert_eq!(&packets[0].payload[..], b"SELECT 1");
    }

    /// A read buffer grown by a 16 MB packet (and a write buffer by a 16 MB answer) shrinks
    /// back when the connection goes idle; unread bytes survive the shrink.
    #[test]
    fn grown_buffers_shrink_when_idle() {
        let mut buf = BytesMut::new();
        write_frames(&mut buf, 0, &vec![b'x'; MAX_FRAME - 1]);
        write_frames(&mut buf, 1, b"next");
        let input = buf.to_vec();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        rt.block_on(async {
            let mut io = PacketIo::over(Replay {
                input,
                pos: 0,
                chunk: 1 << 20,
            });
            let big = io.read_packet(MAX_FRAME).await.expect("the big packet");
            assert_eq!(big.payload.len(), MAX_FRAME - 1);
            drop(big);
            io.queue_packet(0, &vec![b'y'; 4 << 20]);
            io.flush().await.expect("flushed");
            assert!(io.rbuf.capacity() > SHRINK_ABOVE || io.wbuf.capacity() > SHRINK_ABOVE);
            let unread = io.rbuf.to_vec();
            io.shrink_buffers();
            assert!(io.rbuf.capacity() <= SHRINK_ABOVE, "{}", io.rbuf.capacity());
            assert!(io.wbuf.capacity() <= SHRINK_ABOVE, "{}", io.wbuf.capacity());
            assert_eq!(io.rbuf.to_vec(), unread);
        });
    }

    #[test]
    fn released_buffers_cost_nothing_until_the_next_packet() {
        let mut buf = BytesMut::new();
        write_frames(&mut buf, 0, b"\x03SELECT 1");
        write_frames(&mut buf, 0, &vec![b'z'; 100_000]);
        let input = buf.to_vec();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        rt.block_on(async {
            let mut io = PacketIo::over(Replay {
                input,
                pos: 0,
                chunk: 1 << 20,
            });
            io.release_buffers();
            assert_eq!((io.rbuf.capacity(), io.wbuf.capacity()), (0, 0));
            let first = io.read_packet(1 << 20).await.expect("a command");
            assert_eq!(&first.payload[..], b"\x03SELECT 1");
            assert!(
                io.rbuf.capacity() <= 4096,
                "a released buffer starts small: {}",
                io.rbuf.capacity()
            );
            let big = io.read_packet(1 << 20).await.expect("a larger packet");
            assert_eq!(big.payload.len(), 100_000, "it grows as a packet needs");
        });
    }

    #[test]
    fn err_round_trip() {
        let p = err_payload(1045, "28000", "Access denied");
        assert_eq!(
            parse_err(&p),
            Some((1045, "28000".to_owned(), "Access denied".to_owned()))
        );
    }
}
