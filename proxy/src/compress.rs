//! The MySQL compressed protocol (CLIENT_COMPRESS, zlib) as a stream layer.
//!
//! On the wire, a compressed connection carries frames of `complen:u24 seq:u8 ulen:u24
//! payload`: `payload` is `complen` bytes, zlib-compressed from `ulen` bytes, or sent as it
//! is when `ulen` is 0 (short payloads are not worth compressing). Once decompressed and
//! joined, the frames are exactly the plain packet stream (`len:u24 seq:u8 payload`): a frame
//! may hold several packets, or part of one. So [`Compressed`] turns one into the other
//! under [`crate::packet::PacketIo`], and the packet codec, the handshake and the relay work
//! unchanged on a compressed client. The backend side is never compressed.
//!
//! Sequence ids, as MariaDB's `net_serv.cc` numbers them on a compressed connection: the frame
//! id is a counter of its own, which the client restarts at 0 with each command; the answer
//! continues from the last frame id the client sent. The packet ids inside the answer start
//! from that same number (not from the request's packet ids), count up, and after each flush
//! the next frame's first packet takes the frame's id again. Clients rely on it (mysql_common
//! re-syncs between result sets; mysql-connector adopts whatever it gets), so the layer
//! renumbers the packets it sends; the ids the proxy's own layers chose are replaced.
//!
//! Frame boundaries: every frame ends at a packet boundary, except that a packet frame of
//! 16 MB (longer than a compressed frame may carry) ends in the next one. mysql-connector
//! reads a packet from at most two frames, like the server writes them. So writes are
//! buffered up to [`CHUNK`] bytes or the end of the current packet, whichever comes later:
//! memory per compressed client is bounded by one 16 MB packet frame, not by the answer.
//!
//! Why not mysql_common's `PacketCodec` with compression: it decodes whole packets and keeps
//! its own packet sequence ids, while the relay streams frames and rewrites those ids itself;
//! a byte-stream layer needs only zlib, taken from flate2 with the same backend as mysql_common.

use bytes::{Buf, BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::packet::{frame_len, ByteStream, PacketIo, MAX_FRAME};

/// Length of a compressed frame's header.
pub const HEADER: usize = 7;

/// Payloads shorter than this are sent uncompressed (`ulen` 0), as MariaDB does
/// (`MIN_COMPRESS_LENGTH`): the zlib header would outweigh the saving.
pub const MIN_COMPRESS_LENGTH: usize = 50;

/// Plain bytes buffered before the complete packets among them are compressed and sent; a
/// packet longer than this is buffered whole (up to one 16 MB packet frame).
pub const CHUNK: usize = 128 * 1024;

/// The zlib level. The fast level: the proxy compresses for every client on shared cores,
/// and most of the bandwidth saving of the default level comes at the first one.
const LEVEL: Compression = Compression::fast();

/// Read-buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// A byte stream that speaks the compressed protocol once [`Compressed::start`] is called,
/// and passes bytes through unchanged before (the handshake is never compressed).
#[derive(Debug)]
pub struct Compressed<S> {
    inner: S,
    /// True once the handshake negotiated compression and its OK went out.
    on: bool,
    /// Compressed bytes read from `inner`, not yet decoded into frames.
    wire_in: BytesMut,
    /// Decompressed bytes not yet handed to the reader.
    plain_in: BytesMut,
    /// Plain bytes written, not yet compressed: complete packets up to `boundary`, then the
    /// start of the packet being written.
    plain_out: BytesMut,
    /// Offsets in `plain_out` of the packet headers not yet numbered.
    headers: Vec<usize>,
    /// Length of the complete packets at the start of `plain_out`.
    boundary: usize,
    /// How far `plain_out` has been parsed into packets.
    scanned: usize,
    /// Payload bytes of the packet at `scanned` not yet written.
    payload_left: usize,
    /// Compressed frames not yet written to `inner`.
    wire_out: BytesMut,
    /// Sequence id of the next frame sent: one past the last frame read.
    seq: u8,
    /// Sequence id of the next packet sent.
    packet_seq: u8,
    /// A flush happened: the next frame's first packet takes the frame's id.
    resync: bool,
}

impl<S> Compressed<S> {
    /// Wraps `inner`, passing bytes through until [`Compressed::start`].
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            on: false,
            wire_in: BytesMut::new(),
            plain_in: BytesMut::new(),
            plain_out: BytesMut::new(),
            headers: Vec::new(),
            boundary: 0,
            scanned: 0,
            payload_left: 0,
            wire_out: BytesMut::new(),
            seq: 0,
            packet_seq: 0,
            resync: false,
        }
    }

    /// Switches to compressed framing in both directions. `already_read` holds bytes the
    /// caller read from this stream after the switch point (they are compressed frames).
    pub fn start(&mut self, already_read: BytesMut) {
        self.on = true;
        self.seq = 0;
        self.packet_seq = 0;
        self.wire_in = already_read;
    }

    /// True once compression started.
    pub fn is_compressed(&self) -> bool {
        self.on
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably (a client switching to TLS during the handshake, before
    /// compression starts).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Decodes one whole frame from `wire_in` into `plain_in`, if one has arrived.
    fn decode_frame(&mut self) -> io::Result<bool> {
        if self.wire_in.len() < HEADER {
            return Ok(false);
        }
        let complen = frame_len(&self.wire_in);
        let seq = self.wire_in[3];
        let ulen = frame_len(&self.wire_in[4..]);
        if self.wire_in.len() < HEADER + complen {
            self.wire_in.reserve(HEADER + complen - self.wire_in.len());
            return Ok(false);
        }
        self.wire_in.advance(HEADER);
        let payload = self.wire_in.split_to(complen);
        self.seq = seq.wrapping_add(1);
        self.packet_seq = self.seq;
        self.resync = false;
        if ulen == 0 {
            if self.plain_in.is_empty() {
                self.plain_in = payload;
            } else {
                self.plain_in.extend_from_slice(&payload);
            }
        } else {
            inflate(&payload, ulen, &mut self.plain_in)?;
        }
        Ok(true)
    }

    /// Parses the bytes appended to `plain_out` into packets: records headers and advances
    /// `boundary` past each complete packet.
    fn scan(&mut self) {
        loop {
            if self.payload_left > 0 {
                let n = (self.plain_out.len() - self.scanned).min(self.payload_left);
                self.scanned += n;
                self.payload_left -= n;
                if self.payload_left > 0 {
                    return;
                }
                self.boundary = self.scanned;
            } else {
                if self.plain_out.len() - self.scanned < 4 {
                    return;
                }
                self.headers.push(self.scanned);
                self.payload_left = frame_len(&self.plain_out[self.scanned..]);
                self.scanned += 4;
                if self.payload_left == 0 {
                    self.boundary = self.scanned;
                }
            }
        }
    }

    /// Numbers and compresses the complete packets of `plain_out` into frames queued on
    /// `wire_out`; the packet being written stays.
    fn seal(&mut self) -> io::Result<()> {
        let end = self.boundary;
        if end == 0 {
            return Ok(());
        }
        let mut plain = self.plain_out.split_to(end);
        self.scanned -= end;
        self.boundary = 0;
        let kept = self.headers.iter().position(|&h| h >= end);
        let tail = kept.map(|i| self.headers.split_off(i)).unwrap_or_default();
        let headers = std::mem::replace(&mut self.headers, tail.iter().map(|h| h - end).collect());
        let mut next = headers.iter().copied().peekable();
        let mut start = 0;
        while start < end {
            let stop = (start + MAX_FRAME).min(end);
            while let Some(h) = next.next_if(|&h| h < stop) {
                let packet_end = h + 4 + frame_len(&plain[h..]);
                let seq = if self.resync && h == start && packet_end <= stop {
                    self.seq
                } else {
                    self.packet_seq
                };
                self.resync = false;
                plain[h + 3] = seq;
                self.packet_seq = seq.wrapping_add(1);
            }
            self.seq = encode_frame(self.seq, &plain[start..stop], &mut self.wire_out)?;
            start = stop;
        }
        Ok(())
    }
}

impl<S: AsyncWrite + Unpin> Compressed<S> {
    /// Writes `wire_out` to the inner stream.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wire_out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wire_out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wire_out.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Compressed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.on {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            if !this.plain_in.is_empty() {
                let n = buf.remaining().min(this.plain_in.len());
                buf.put_slice(&this.plain_in[..n]);
                this.plain_in.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.decode_frame()? {
                continue;
            }
            let start = this.wire_in.len();
            let room = (this.wire_in.capacity() - start).max(READ_CHUNK);
            this.wire_in.resize(start + room, 0);
            let mut dst = ReadBuf::new(&mut this.wire_in[start..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut dst);
            let n = dst.filled().len();
            this.wire_in.truncate(start + n);
            ready!(polled)?;
            if n == 0 {
                if this.wire_in.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a compressed frame",
                )));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Compressed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.on {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if this.plain_out.len() >= CHUNK && this.boundary > 0 {
            this.seal()?;
        }
        ready!(this.poll_drain(cx))?;
        let room = match CHUNK.checked_sub(this.plain_out.len()) {
            Some(room) if room > 0 => room,
            // One packet longer than CHUNK: take it to its end.
            _ => this.payload_left.max(1),
        };
        let n = buf.len().min(room);
        this.plain_out.extend_from_slice(&buf[..n]);
        this.scan();
        Poll::Ready(Ok(n))
    }

    /// Sends every complete packet written. A packet still being written stays: the client
    /// cannot use part of one, and it goes out whole in the next frame.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.on && this.boundary > 0 {
            this.seal()?;
            this.resync = true;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: ByteStream> PacketIo<Compressed<S>> {
    /// Starts compression if the client negotiated it; call right after the handshake's OK
    /// went out. Bytes already read past that point move into the compressed layer.
    pub fn start_compression(&mut self, negotiated: bool) {
        if negotiated {
            let already_read = self.rbuf.split();
            self.stream_mut().start(already_read);
        }
    }
}

/// Appends one frame with sequence id `seq` carrying `plain` (at most [`MAX_FRAME`] bytes)
/// to `out`, compressed unless that would not pay; returns the next sequence id.
pub fn encode_frame(seq: u8, plain: &[u8], out: &mut BytesMut) -> io::Result<u8> {
    let start = out.len();
    out.put_bytes(0, HEADER);
    let ulen = if plain.len() < MIN_COMPRESS_LENGTH {
        out.extend_from_slice(plain);
        0
    } else {
        deflate(plain, out)?;
        if out.len() - start - HEADER >= plain.len() {
            out.truncate(start + HEADER);
            out.extend_from_slice(plain);
            0
        } else {
            plain.len()
        }
    };
    let complen = out.len() - start - HEADER;
    let header = &mut out[start..start + HEADER];
    header[..3].copy_from_slice(&u24(complen));
    header[3] = seq;
    header[4..].copy_from_slice(&u24(ulen));
    Ok(seq.wrapping_add(1))
}

fn u24(n: usize) -> [u8; 3] {
    let b = (n as u32).to_le_bytes();
    [b[0], b[1], b[2]]
}

/// Appends the zlib stream of `plain` to `out`.
fn deflate(plain: &[u8], out: &mut BytesMut) -> io::Result<()> {
    let mut z = Compress::new(LEVEL, true);
    let mut scratch = Vec::with_capacity(plain.len() / 2 + 64);
    loop {
        let consumed = z.total_in() as usize;
        let status = z
            .compress_vec(&plain[consumed..], &mut scratch, FlushCompress::Finish)
            .map_err(|e| io::Error::other(e.to_string()))?;
        if status == Status::StreamEnd {
            out.extend_from_slice(&scratch);
            return Ok(());
        }
        scratch.reserve(scratch.capacity().max(4096));
    }
}

/// Appends the `ulen` bytes that the zlib stream `payload` decompresses to onto `out`; a
/// stream that ends early or would go past `ulen` is an `InvalidData` error.
fn inflate(payload: &[u8], ulen: usize, out: &mut BytesMut) -> io::Result<()> {
    let mut z = Decompress::new(true);
    let mut plain = Vec::with_capacity(ulen);
    let status = z
        .decompress_vec(payload, &mut plain, FlushDecompress::Finish)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if status != Status::StreamEnd || plain.len() != ulen {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "compressed frame: {} bytes decompressed, {ulen} announced",
                plain.len()
            ),
        ));
    }
    out.extend_from_slice(&plain);
    Ok(())
}

#[cfg(test)]
mod tests;
