//! Capture of a plugin's stdout and stderr, up to a size limit.
//!
//! Output past the limit is dropped rather than refused, so a plugin that
//! prints too much keeps running and its result is kept. The captured text
//! then ends with a note that names the limit and counts the bytes
//! dropped. A plugin that prints without end takes at most the limit of
//! host memory, and the invocation's timeout ends it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::limits::{Limit, format_size};

/// Bytes a plugin may write in one call before it must check again.
const WRITE_BUDGET: usize = 64 * 1024;

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    dropped: usize,
}

/// One captured stream, shared by the store and the code that reads it.
#[derive(Clone)]
pub struct CapturedOutput {
    buffer: Arc<Mutex<Buffer>>,
    limit: usize,
}

impl CapturedOutput {
    /// Creates a capture that keeps the first `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buffer: Arc::default(),
            limit,
        }
    }

    /// Returns the captured text, with a closing note when output was cut.
    pub fn text(&self) -> String {
        let buffer = self.buffer.lock();
        let mut text = String::from_utf8_lossy(&buffer.bytes).into_owned();
        if buffer.dropped > 0 {
            if !text.ends_with('\n') && !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "[lazyhost: output truncated at the plugin's output limit of {} ({}); \
                 {} more bytes dropped]\n",
                format_size(self.limit),
                Limit::Output.key(),
                buffer.dropped
            ));
        }
        text
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock();
        let room = self.limit.saturating_sub(buffer.bytes.len());
        let kept = bytes.len().min(room);
        buffer.bytes.extend_from_slice(&bytes[..kept]);
        buffer.dropped += bytes.len() - kept;
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_limit_is_dropped_and_noted() {
        let mut capture = CapturedOutput::new(10);
        capture.write(Bytes::from_static(b"0123456")).unwrap();
        capture.write(Bytes::from_static(b"789abcdef")).unwrap();
        assert_eq!(capture.check_write().unwrap(), WRITE_BUDGET);
        assert_eq!(
            capture.text(),
            "0123456789\n[lazyhost: output truncated at the plugin's output limit of \
             10 bytes (output_bytes); 6 more bytes dropped]\n"
        );
    }

    #[test]
    fn output_within_the_limit_is_kept_whole() {
        let mut capture = CapturedOutput::new(100);
        capture.write(Bytes::from_static(b"line\n")).unwrap();
        assert_eq!(capture.text(), "line\n");
    }
}
