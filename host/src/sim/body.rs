//! HTTP response bodies of the API servers: whole documents, or a stream of
//! chunks for watches that hyper sends with chunked transfer encoding, one
//! chunk per watch event as soon as it is produced.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::api::Reply;

/// Body of an API response.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// A complete document.
    Full(Full<Bytes>),
    /// Chunks produced by a task until it drops the sending side.
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(full) => Pin::new(full).poll_frame(context),
            Self::Stream(receiver) => receiver
                .poll_recv(context)
                .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(full) => full.is_end_stream(),
            Self::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(full) => full.size_hint(),
            Self::Stream(_) => SizeHint::default(),
        }
    }
}

impl ResponseBody {
    /// Builds a body holding `text`.
    pub(crate) fn text(text: impl Into<Bytes>) -> Self {
        Self::Full(Full::new(text.into()))
    }
}

impl Reply {
    /// Splits a successful reply into its HTTP status, body and `Content-Type`.
    pub(crate) fn into_parts(self) -> (StatusCode, ResponseBody, &'static str) {
        match self {
            Reply::Json(status, body) => (
                status,
                ResponseBody::text(body.to_string()),
                "application/json",
            ),
            Reply::Typed(body, content_type) => (
                StatusCode::OK,
                ResponseBody::text(body.to_string()),
                content_type,
            ),
            Reply::Text(text) => (
                StatusCode::OK,
                ResponseBody::text(text),
                "text/plain; charset=utf-8",
            ),
            Reply::Stream(receiver) => (
                StatusCode::OK,
                ResponseBody::Stream(receiver),
                "application/json",
            ),
        }
    }
}
