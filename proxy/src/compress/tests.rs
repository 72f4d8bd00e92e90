//! The compressed layer from byte fixtures: frames split at odd read boundaries, frames sent
//! uncompressed, the frame sequence id, 16 MB packets, and bounded buffering of writes.

use super::*;
use crate::mem_stream::Mem;
use crate::packet::write_frames;
use flate2::write::ZlibEncoder;
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn zlib(plain: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(plain).expect("in memory");
    e.finish().expect("in memory")
}

/// A compressed frame built independently of the code under test.
fn frame(seq: u8, plain: &[u8], compress: bool) -> Vec<u8> {
    let (body, ulen) = if compress {
        (zlib(plain), plain.len())
    } else {
        (plain.to_vec(), 0)
    };
    let mut f = Vec::new();
    f.extend_from_slice(&u24(body.len()));
    f.push(seq);
    f.extend_from_slice(&u24(ulen));
    f.extend_from_slice(&body);
    f
}

/// Splits the whole decoded stream of `wire` as read `chunk` bytes at a time.
async fn read_all(wire: Vec<u8>, chunk: usize) -> io::Result<(Vec<u8>, u8)> {
    let mut s = Compressed::new(Mem::reading(wire, chunk));
    s.start(BytesMut::new());
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok((out, s.seq))
}

/// Decodes every frame of `wire` with an independent zlib: (seq, plain) pairs.
fn decode(wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let complen = frame_len(rest);
        let ulen = frame_len(&rest[4..]);
        let body = &rest[HEADER..HEADER + complen];
        let plain = if ulen == 0 {
            body.to_vec()
        } else {
            let mut d = flate2::read::ZlibDecoder::new(body);
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut d, &mut v).expect("valid zlib");
            assert_eq!(v.len(), ulen);
            v
        };
        frames.push((rest[3], plain));
        rest = &rest[HEADER + complen..];
    }
    frames
}

/// Two packets sent in one compressed frame and a third in an uncompressed one come out as
/// the plain packet stream, whatever the read boundaries.
#[tokio::test]
async fn frames_decode_at_any_read_boundary() {
    let mut plain = BytesMut::new();
    write_frames(&mut plain, 0, &[b'x'; 300]);
    write_frames(&mut plain, 1, b"\x03SELECT 1");
    let mut short = BytesMut::new();
    write_frames(&mut short, 2, b"\x0eping");
    let mut wire = frame(0, &plain, true);
    wire.extend(frame(1, &short, false));
    let mut expected = plain.to_vec();
    expected.extend_from_slice(&short);
    for chunk in [1, 2, 6, 7, 8, 13, 64, 4096] {
        let (out, next) = read_all(wire.clone(), chunk).await.expect("decodes");
        assert_eq!(out, expected, "read {chunk} bytes at a time");
        assert_eq!(next, 2, "the answer continues after the last frame read");
    }
}

/// A packet split across two compressed frames is joined by the packet reader.
#[tokio::test]
async fn packet_split_across_frames() {
    let mut plain = BytesMut::new();
    write_frames(
        &mut plain,
        0,
        &(0..=255u8).cycle().take(1000).collect::<Vec<_>>(),
    );
    let (a, b) = plain.split_at(333);
    let mut wire = frame(0, a, true);
    wire.extend(frame(1, b, true));
    let mut io = PacketIo::over(Compressed::new(Mem::reading(wire, 5)));
    io.start_compression(true);
    let p = io.read_packet(1 << 20).await.expect("one packet");
    assert_eq!(p.seq, 0);
    assert_eq!(p.payload.len(), 1000);
    assert_eq!(&p.payload[..], &plain[4..]);
}

/// A 16 MB+ packet (two plain frames) sent in compressed frames of at most 16 MB each.
#[tokio::test]
async fn packet_over_16mb() {
    let payload: Vec<u8> = (0..MAX_FRAME + 1000).map(|i| (i % 251) as u8).collect();
    let mut plain = BytesMut::new();
    write_frames(&mut plain, 0, &payload);
    let mut wire = Vec::new();
    for (i, piece) in plain.chunks(MAX_FRAME).enumerate() {
        wire.extend(frame(i as u8, piece, true));
    }
    let mut io = PacketIo::over(Compressed::new(Mem::reading(wire, 70_000)));
    io.start_compression(true);
    let p = io
        .read_packet(2 * MAX_FRAME)
        .await
        .expect("one large packet");
    assert_eq!(p.frames, 2);
    assert!(p.payload[..] == payload[..]);
}

/// Bytes the packet reader took before compression started are decoded as frames.
#[tokio::test]
async fn bytes_read_before_the_switch_are_decoded() {
    let mut plain = BytesMut::new();
    write_frames(&mut plain, 0, b"\x03SELECT 'already buffered'");
    let wire = frame(0, &plain, false);
    let mut io = PacketIo::over(Compressed::new(Mem::reading(wire[9..].to_vec(), 3)));
    io.rbuf.extend_from_slice(&wire[..9]);
    io.start_compression(true);
    let p = io.read_packet(1024).await.expect("packet");
    assert_eq!(&p.payload[..], b"\x03SELECT 'already buffered'");
}

/// Short answers go out uncompressed, long ones compressed, with frame ids following the
/// last frame the client sent.
#[tokio::test]
async fn writes_follow_the_clients_sequence_id() {
    let mut plain = BytesMut::new();
    write_frames(&mut plain, 0, b"\x03SELECT 1");
    let mut io = PacketIo::over(Compressed::new(Mem::reading(frame(4, &plain, false), 64)));
    io.start_compression(true);
    io.read_packet(1024).await.expect("command");
    io.send_packet(1, b"\x00\x00\x00\x02\x00\x00\x00")
        .await
        .expect("ok");
    let long = vec![b'a'; 5000];
    io.send_packet(2, &long).await.expect("row");
    let frames = decode(&io.stream().get_ref().output);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].0, 5);
    assert_eq!(frames[1].0, 6);
    assert_eq!(
        frames[0].1[3], 5,
        "the answer's packets are numbered from the frame id"
    );
    assert_eq!(
        frames[1].1[3], 6,
        "after a flush the packet takes the frame's id"
    );
    assert_eq!(&frames[0].1[4..], b"\x00\x00\x00\x02\x00\x00\x00");
    let wire = &io.stream().get_ref().output;
    assert_eq!(frame_len(&wire[4..]), 0, "short payload sent as it is");
    assert_eq!(frames[1].1.len(), 4 + 5000);
    assert!(wire.len() < 1000, "long payload compressed");
}

/// Before the switch the layer passes bytes through untouched.
#[tokio::test]
async fn passthrough_before_start() {
    let mut io = PacketIo::over(Compressed::new(Mem::reading(
        b"\x01\x00\x00\x00\x0e".to_vec(),
        2,
    )));
    let p = io.read_packet(16).await.expect("plain packet");
    assert_eq!(&p.payload[..], b"\x0e");
    io.send_packet(1, b"\x00\x00\x00\x02\x00\x00\x00")
        .await
        .expect("ok");
    assert_eq!(
        io.stream().get_ref().output,
        b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00"
    );
    assert!(!io.stream().is_compressed());
}

/// A large answer: small packets, then a 24 MB packet (two packet frames), written in pieces
/// by a slow socket. Frames end at packet boundaries (the 16 MB packet frame ends in the next
/// frame), packets keep consecutive ids, and the bytes are exact.
#[tokio::test]
async fn large_answer_frames_end_at_packet_boundaries() {
    let mut s = Compressed::new(Mem::reading(Vec::new(), 1));
    s.start(BytesMut::new());
    s.inner.write_chunk = 10_000;
    let payload: Vec<u8> = (0..3 * MAX_FRAME / 2)
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    let mut plain = BytesMut::new();
    let mut seq = 0;
    for i in 0..2000u32 {
        seq = write_frames(&mut plain, seq, format!("row {i:>100}").as_bytes());
    }
    write_frames(&mut plain, seq, &payload);
    s.write_all(&plain).await.expect("write");
    assert!(
        s.plain_out.len() <= MAX_FRAME + 4,
        "buffered at most one packet frame"
    );
    s.flush().await.expect("flush");
    let frames = decode(&s.inner.output);
    for (i, (seq, _)) in frames.iter().enumerate() {
        assert_eq!(*seq, i as u8);
    }
    assert!(frames.len() > 3, "small packets sent in CHUNK pieces");
    let joined: Vec<u8> = frames.iter().flat_map(|(_, p)| p.clone()).collect();
    assert!(
        joined == plain[..],
        "ids were already consecutive from 0: unchanged"
    );
    let mut boundaries = std::collections::HashSet::new();
    let mut long_packets = Vec::new();
    let mut at = 0;
    while at < plain.len() {
        let len = frame_len(&plain[at..]);
        if len == MAX_FRAME {
            long_packets.push(at..at + 4 + len);
        }
        at += 4 + len;
        boundaries.insert(at);
    }
    let mut end = 0;
    for (_, p) in &frames {
        end += p.len();
        assert!(
            boundaries.contains(&end) || long_packets.iter().any(|r| r.contains(&end)),
            "a frame ends inside a packet at {end}"
        );
    }
}

/// After a flush the next frame's first packet takes the frame id (as `net_flush` does);
/// a packet that does not end in its first frame keeps counting instead.
#[tokio::test]
async fn flush_resyncs_packet_ids_to_the_frame_id() {
    let mut plain = BytesMut::new();
    write_frames(&mut plain, 0, b"\x03SELECT 1; SELECT 2");
    let mut io = PacketIo::over(Compressed::new(Mem::reading(frame(0, &plain, false), 64)));
    io.start_compression(true);
    io.read_packet(1024).await.expect("command");
    io.queue_packet(1, b"\x01");
    io.queue_packet(2, &[b'c'; 60]);
    io.flush().await.expect("first result's start");
    io.queue_packet(3, b"\x01");
    io.queue_packet(4, &[b'd'; 60]);
    io.flush().await.expect("second result");
    let big = vec![b'e'; MAX_FRAME];
    io.send_packet(5, &big).await.expect("a 16 MB row");
    let frames = decode(&io.stream().get_ref().output);
    let ids: Vec<u8> = frames.iter().map(|(s, _)| *s).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    assert_eq!(frames[0].1[3], 1);
    assert_eq!(frames[0].1[4 + 1 + 3], 2);
    assert_eq!(frames[1].1[3], 2, "resynced to the frame id");
    assert_eq!(frames[1].1[4 + 1 + 3], 3);
    assert_eq!(frames[2].1[3], 4, "spans two frames: counts on from 3");
    assert_eq!(
        frames[3].1.len(),
        4,
        "the 16 MB packet frame ends in the next frame"
    );
    assert_eq!(
        &frames[4].1[..],
        b"\x00\x00\x00\x05",
        "the empty trailer counts on"
    );
}

/// A frame whose announced length does not match its zlib stream is an error, not a
/// short read.
#[tokio::test]
async fn bad_length_is_invalid_data() {
    let mut wire = frame(0, &[b'z'; 100], true);
    wire[4] = 99;
    let e = read_all(wire, 64).await.expect_err("length mismatch");
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
}

/// EOF inside a frame is an unexpected EOF; EOF between frames is a clean end.
#[tokio::test]
async fn eof_inside_a_frame() {
    let wire = frame(0, &[b'q'; 100], true);
    let e = read_all(wire[..wire.len() - 1].to_vec(), 64)
        .await
        .expect_err("truncated");
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    let (out, _) = read_all(wire, 64).await.expect("whole frame");
    assert_eq!(out, vec![b'q'; 100]);
}

/// encode_frame and the reader agree, and ids wrap at 255.
#[tokio::test]
async fn round_trip_and_wrap() {
    let mut wire = BytesMut::new();
    let mut seq = 254;
    for len in [0, 1, 49, 50, 51, 1000, 70_000] {
        let plain: Vec<u8> = (0..len).map(|i| (i % 13) as u8).collect();
        seq = encode_frame(seq, &plain, &mut wire).expect("encode");
    }
    assert_eq!(seq, 5);
    let (out, next) = read_all(wire.to_vec(), 17).await.expect("decode");
    let expected: Vec<u8> = [0, 1, 49, 50, 51, 1000, 70_000]
        .iter()
        .flat_map(|&len| (0..len).map(|i| (i % 13) as u8))
        .collect();
    assert_eq!(out, expected);
    assert_eq!(next, 5);
}
