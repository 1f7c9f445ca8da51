//! The error type of plugins: a failed host call or the plugin's own failure.

use std::fmt;

use crate::types;

/// The kind of an [`Error`]: a case of the WIT variant `error` for a failed
/// host call, or a failure inside the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object, namespace or resource type does not exist (HTTP 404).
    NotFound,
    /// An object with that name already exists (HTTP 409, AlreadyExists).
    AlreadyExists,
    /// The object changed since it was read (HTTP 409, Conflict).
    Conflict,
    /// The request or object is invalid (HTTP 400, 415 or 422).
    Invalid,
    /// The cluster's RBAC rejected the request (HTTP 403).
    Forbidden,
    /// The cluster rejected the credentials (HTTP 401).
    Unauthorized,
    /// The cluster cannot be reached or failed to serve the request.
    Unavailable,
    /// The request did not finish in time.
    Timeout,
    /// lazyhost's own policy rejected the call before it reached a cluster.
    Denied,
    /// A `--arg` value is missing, unknown or cannot be parsed.
    Argument,
    /// JSON from the host does not decode into the requested type, or an
    /// object does not encode as JSON.
    Json,
    /// Any other failure of the plugin, from [`Error::msg`].
    Other,
}

impl ErrorKind {
    /// Returns the WIT case name, such as `not-found`, or for the plugin's
    /// own failures `argument`, `json` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not-found",
            Self::AlreadyExists => "already-exists",
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
            Self::Forbidden => "forbidden",
            Self::Unauthorized => "unauthorized",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Denied => "denied",
            Self::Argument => "argument",
            Self::Json => "json",
            Self::Other => "other",
        }
    }

    /// Returns whether the kind is a case of the WIT variant `error`.
    pub fn is_host_error(self) -> bool {
        !matches!(self, Self::Argument | Self::Json | Self::Other)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A failure of a plugin. `Display` prints the context, if any, then for a
/// host error the WIT case and the message (`listing pods: denied: cluster
/// sim-2 is not allowed`), and for the plugin's own failures the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    context: Vec<String>,
}

impl Error {
    /// Creates an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            context: Vec::new(),
        }
    }

    /// Creates an error of kind [`ErrorKind::Other`] with `message`.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Other, message.to_string())
    }

    /// Creates an error of kind [`ErrorKind::Argument`] with `message`.
    pub fn argument(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Argument, message.to_string())
    }

    /// Adds `context`, such as `listing pods`, in front of the message.
    /// Context added later goes further to the front.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.context.insert(0, context.to_string());
        self
    }

    /// Returns the error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Returns the message, without the context or the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Returns whether the host call found no such object (`not-found`).
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }

    /// Returns whether the object already exists (`already-exists`).
    pub fn is_already_exists(&self) -> bool {
        self.kind == ErrorKind::AlreadyExists
    }

    /// Returns whether the object changed since it was read (`conflict`).
    pub fn is_conflict(&self) -> bool {
        self.kind == ErrorKind::Conflict
    }

    /// Returns whether the cluster rejected the request as `invalid`.
    pub fn is_invalid(&self) -> bool {
        self.kind == ErrorKind::Invalid
    }

    /// Returns whether the cluster's RBAC rejected the request (`forbidden`).
    pub fn is_forbidden(&self) -> bool {
        self.kind == ErrorKind::Forbidden
    }

    /// Returns whether the cluster rejected the credentials (`unauthorized`).
    pub fn is_unauthorized(&self) -> bool {
        self.kind == ErrorKind::Unauthorized
    }

    /// Returns whether the cluster could not serve the request
    /// (`unavailable`).
    pub fn is_unavailable(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }

    /// Returns whether the request timed out (`timeout`).
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// Returns whether lazyhost's policy rejected the call (`denied`).
    pub fn is_denied(&self) -> bool {
        self.kind == ErrorKind::Denied
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for context in &self.context {
            write!(formatter, "{context}: ")?;
        }
        if self.kind.is_host_error() {
            write!(formatter, "{}: ", self.kind)?;
        }
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<types::Error> for Error {
    fn from(error: types::Error) -> Self {
        let (kind, message) = match error {
            types::Error::NotFound(message) => (ErrorKind::NotFound, message),
            types::Error::AlreadyExists(message) => (ErrorKind::AlreadyExists, message),
            types::Error::Conflict(message) => (ErrorKind::Conflict, message),
            types::Error::Invalid(message) => (ErrorKind::Invalid, message),
            types::Error::Forbidden(message) => (ErrorKind::Forbidden, message),
            types::Error::Unauthorized(message) => (ErrorKind::Unauthorized, message),
            types::Error::Unavailable(message) => (ErrorKind::Unavailable, message),
            types::Error::Timeout(message) => (ErrorKind::Timeout, message),
            types::Error::Denied(message) => (ErrorKind::Denied, message),
        };
        Self::new(kind, message)
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::new(ErrorKind::Json, error.to_string())
    }
}

/// Adds [`Error::context`] to the error of a `Result`.
pub trait ResultExt<T> {
    /// Adds `context` in front of the error's message.
    fn context(self, context: impl fmt::Display) -> Result<T, Error>;
}

impl<T, E: Into<Error>> ResultExt<T> for Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T, Error> {
        self.map_err(|error| error.into().context(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_error_shows_case_and_message() {
        let error = Error::from(types::Error::NotFound("pods \"web\" not found".into()));
        assert!(error.is_not_found());
        assert!(!error.is_denied());
        assert_eq!(error.to_string(), "not-found: pods \"web\" not found");
    }

    #[test]
    fn context_goes_in_front() {
        let result: Result<(), types::Error> = Err(types::Error::Denied("no write grant".into()));
        let error = result.context("deleting shop/web").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Denied);
        assert_eq!(
            error.context("cleanup").to_string(),
            "cleanup: deleting shop/web: denied: no write grant"
        );
    }

    #[test]
    fn plugin_errors_show_message_only() {
        assert_eq!(
            Error::msg("clock before 1970").to_string(),
            "clock before 1970"
        );
        assert_eq!(Error::argument("bad").kind(), ErrorKind::Argument);
    }
}
