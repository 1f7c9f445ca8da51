//! The limits of one plugin invocation, their defaults, and the error that
//! names a limit when a plugin goes past it.
//!
//! Every limit is set per plugin in its `[plugins.NAME]` section of
//! `lazyhost.toml`, under the key that [`Limit::key`] returns. Byte sizes
//! are written with a binary unit, such as `"512MiB"`, and read by
//! [`parse_size`].

use std::time::Duration;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Limits of one invocation.
///
/// The defaults fit the large components that Python and JavaScript
/// toolchains produce, while still keeping one invocation from taking the
/// host down. The figures below were measured with a plugin that lists
/// every pod of its cluster and returns the count, built with
/// componentize-py 0.25.1 (an 18.4 MB component) and componentize-js
/// 0.23.0 (12.2 MB), by lowering each limit until the plugin failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time, host calls included. Default 60 seconds.
    pub timeout: Duration,
    /// Linear memory of the instance, in bytes, summed over all of its
    /// memories.
    ///
    /// Default 512 MiB. Listing 10,011 pods needed 65 MiB in the Python
    /// plugin and 62 MiB in the JavaScript one, and the need grows with the
    /// size of what a plugin reads. Eight invocations at once (the default
    /// concurrency) stay under 4 GiB.
    pub memory_bytes: usize,
    /// Table elements of the instance, summed over all of its tables.
    ///
    /// Default 100,000. The Python plugin needed 5,780 and the JavaScript
    /// one 7,735, so larger programs have room. An element costs the host
    /// one pointer (8 bytes on 64-bit hosts), so the default bounds table
    /// memory at under 1 MiB.
    pub table_elements: usize,
    /// Core instances the component may create, and separately the tables
    /// and the memories they define.
    ///
    /// Default 100. The Rust plugins of this repository create 3, the
    /// JavaScript plugin 4 and the Python plugin 14, because componentize-py
    /// links each shared library as a core module of its own.
    pub instances: usize,
    /// The text `run` returns, a result or an error message, in bytes.
    ///
    /// Default 1 MiB. A run keeps every cluster's result until it prints
    /// them, so this bounds a run over 1,000 clusters at 1 GiB of results.
    pub result_bytes: usize,
    /// Captured stdout, and separately stderr, in bytes. Output past it is
    /// dropped and the captured text ends with a note. Default 1 MiB.
    pub output_bytes: usize,
    /// The body of one create, patch or raw request, in bytes.
    ///
    /// Default 3 MiB, the largest request body that kube-apiserver accepts
    /// by default, so a body the server would reject is not sent at all.
    pub request_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            memory_bytes: 512 << 20,
            table_elements: 100_000,
            instances: 100,
            result_bytes: 1 << 20,
            output_bytes: 1 << 20,
            request_body_bytes: 3 << 20,
        }
    }
}

impl Limits {
    /// Describes every limit in one line with its key, such as `timeout
    /// 60s, memory 512MiB, ...`.
    pub fn summary(&self) -> String {
        let sizes = [
            Limit::Memory,
            Limit::TableElements,
            Limit::Instances,
            Limit::Result,
            Limit::Output,
            Limit::RequestBody,
        ]
        .map(|limit| format!("{} {}", limit.key(), self.value_of(limit)));
        format!(
            "timeout {}, {}",
            humantime::format_duration(self.timeout),
            sizes.join(", ")
        )
    }

    /// Returns the value of `limit`, formatted for a message: a byte size
    /// in the largest binary unit that divides it, or a count.
    pub fn value_of(&self, limit: Limit) -> String {
        match limit {
            Limit::Memory => format_size(self.memory_bytes),
            Limit::TableElements => self.table_elements.to_string(),
            Limit::Instances => self.instances.to_string(),
            Limit::Result => format_size(self.result_bytes),
            Limit::Output => format_size(self.output_bytes),
            Limit::RequestBody => format_size(self.request_body_bytes),
        }
    }

    /// Returns the error for going past `limit`, with `detail` saying by
    /// how much.
    pub fn exceeded(&self, limit: Limit, detail: impl Into<String>) -> LimitExceeded {
        LimitExceeded {
            limit,
            value: self.value_of(limit),
            detail: detail.into(),
        }
    }
}

/// One of the size and count limits of [`Limits`]. The timeout has an
/// error of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::memory_bytes`].
    Memory,
    /// [`Limits::table_elements`].
    TableElements,
    /// [`Limits::instances`].
    Instances,
    /// [`Limits::result_bytes`].
    Result,
    /// [`Limits::output_bytes`].
    Output,
    /// [`Limits::request_body_bytes`].
    RequestBody,
}

impl Limit {
    /// Returns the limit's key in a `[plugins.NAME]` section.
    pub fn key(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::TableElements => "table_elements",
            Self::Instances => "instances",
            Self::Result => "result_bytes",
            Self::Output => "output_bytes",
            Self::RequestBody => "request_body_bytes",
        }
    }

    /// Returns the limit's name in messages, such as `result size`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::TableElements => "table element",
            Self::Instances => "instance",
            Self::Result => "result size",
            Self::Output => "output",
            Self::RequestBody => "request body",
        }
    }
}

/// A plugin went past one of its limits.
///
/// It reads as `the plugin exceeded its result size limit of 1 MiB
/// (result_bytes): ` followed by the detail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the plugin exceeded its {} limit of {value} ({}): {detail}",
    limit.name(),
    limit.key()
)]
pub struct LimitExceeded {
    /// The limit.
    pub limit: Limit,
    /// The limit's value, formatted.
    pub value: String,
    /// By how much, such as `its result has 2097152 bytes`.
    pub detail: String,
}

/// Formats a byte size in the largest binary unit that divides it exactly,
/// such as `512 MiB`, or in bytes.
pub fn format_size(bytes: usize) -> String {
    let bytes = bytes as u64;
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    if bytes == 1 {
        "1 byte".to_string()
    } else {
        format!("{bytes} bytes")
    }
}

/// Parses a byte size written as a whole number and a binary unit, such as
/// `512MiB`, `64 KiB` or `100B`.
///
/// # Errors
///
/// Returns a message naming the text when the number or the unit is
/// missing or unknown, or when the size does not fit this host's `usize`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let invalid = |reason: &str| {
        format!(
            "invalid size `{text}`: {reason}; write a whole number and a unit of B, KiB, MiB \
             or GiB, such as \"512MiB\""
        )
    };
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(digits_end);
    if digits.is_empty() {
        return Err(invalid("it does not start with a number"));
    }
    let multiplier = match unit.trim_start() {
        "B" => 1,
        "KiB" => KIB,
        "MiB" => MIB,
        "GiB" => GIB,
        "" => return Err(invalid("the unit is missing")),
        _ => return Err(invalid("the unit is unknown")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| invalid("the number is too large"))?;
    number
        .checked_mul(multiplier)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| invalid("the size is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_every_limit() {
        assert_eq!(
            Limits::default().summary(),
            "timeout 1m, memory 512 MiB, table_elements 100000, instances 100, result_bytes 1 MiB, \
             output_bytes 1 MiB, request_body_bytes 3 MiB"
        );
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("100B"), Ok(100));
    }

    #[test]
    fn invalid_sizes_name_the_text() {
        let cases = [
            ("512", "invalid size `512`: the unit is missing"),
            ("512MB", "invalid size `512MB`: the unit is unknown"),
            ("MiB", "invalid size `MiB`: it does not start with a number"),
            (
                "-1MiB",
                "invalid size `-1MiB`: it does not start with a number",
            ),
            (
                "99999999999999999999B",
                "invalid size `99999999999999999999B`: the number is too large",
            ),
            (
                "17179869184GiB",
                "invalid size `17179869184GiB`: the size is too large",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_size(text).unwrap_err();
            assert!(error.starts_with(expected), "{text}: {error}");
            assert!(error.ends_with("such as \"512MiB\""), "{text}: {error}");
        }
    }

    #[test]
    fn sizes_format_in_the_largest_exact_unit() {
        assert_eq!(format_size(512 << 20), "512 MiB");
        assert_eq!(format_size(3 << 20), "3 MiB");
        assert_eq!(format_size(1536), "1536 bytes");
        assert_eq!(format_size(64 << 10), "64 KiB");
        assert_eq!(format_size(2 << 30), "2 GiB");
        assert_eq!(format_size(1000), "1000 bytes");
        assert_eq!(format_size(0), "0 bytes");
    }

    #[test]
    fn exceeded_limit_names_key_and_value() {
        let limits = Limits::default();
        let error = limits.exceeded(Limit::Result, "its result has 2097152 bytes");
        assert_eq!(
            error.to_string(),
            "the plugin exceeded its result size limit of 1 MiB (result_bytes): \
             its result has 2097152 bytes"
        );
        let error = limits.exceeded(Limit::TableElements, "its tables need 100001 elements");
        assert_eq!(
            error.to_string(),
            "the plugin exceeded its table element limit of 100000 (table_elements): \
             its tables need 100001 elements"
        );
    }
}
