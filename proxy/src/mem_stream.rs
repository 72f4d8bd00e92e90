//! A test-only in-memory stream for the byte-fixture tests of the relay and the compressed
//! layer: reads hand out `input` at most `chunk` bytes at a time and then EOF (so every
//! "not buffered yet, read more" branch is taken); writes land in `output`, at most
//! `write_chunk` bytes per call, or fail when `broken`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Mem {
    pub(crate) input: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) chunk: usize,
    pub(crate) write_chunk: usize,
    pub(crate) output: Vec<u8>,
    pub(crate) broken: bool,
}

impl Mem {
    /// A stream whose reads return `input`, `chunk` bytes at a time.
    pub(crate) fn reading(input: Vec<u8>, chunk: usize) -> Self {
        Self {
            input,
            pos: 0,
            chunk,
            write_chunk: usize::MAX,
            output: Vec::new(),
            broken: false,
        }
    }

    /// A stream that only records what is written.
    pub(crate) fn writing() -> Self {
        Self::reading(Vec::new(), 1)
    }
}

impl AsyncRead for Mem {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = (this.input.len() - this.pos)
            .min(this.chunk)
            .min(buf.remaining());
        buf.put_slice(&this.input[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Mem {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = data.len().min(this.write_chunk);
        this.output.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
