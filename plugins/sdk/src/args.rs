//! The `--arg key=value` pairs of one invocation, parsed into typed values.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// The `--arg key=value` pairs (or `args` of lazyhost.toml) of one
/// invocation, in the order the user gave them. A key given more than once
/// takes its last value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pairs: Vec<(String, String)>,
}

impl Args {
    /// Wraps the pairs that the host passes to `run`.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// Returns the pairs as given.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Returns the last value given for `key` as text, or `None`.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// Parses the value of `key` with `T`'s `FromStr`: `None` when the key
    /// is absent, an [`ErrorKind::Argument`](crate::ErrorKind::Argument)
    /// error naming the key and value when it does not parse.
    ///
    /// `args.get::<u64>("restarts")?.unwrap_or(3)` reads an optional number;
    /// [`DurationArg`] reads ages such as `90s` or `1h30m`.
    pub fn get<T>(&self, key: &str) -> Result<Option<T>, Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let Some(value) = self.raw(key) else {
            return Ok(None);
        };
        value.parse().map(Some).map_err(|error| {
            Error::argument(format!("invalid value for --arg {key}={value}: {error}"))
        })
    }

    /// Like [`Args::get`], but fails with a message naming the key when it is
    /// absent.
    pub fn require<T>(&self, key: &str) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.get(key)?
            .ok_or_else(|| Error::argument(format!("missing argument: pass --arg {key}=VALUE")))
    }

    /// Fails when a key is not in `known`, naming the key and listing the
    /// keys the plugin takes. Call it first, so that a misspelt key is an
    /// error instead of a silently ignored setting.
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), Error> {
        let Some((key, _)) = self
            .pairs
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()))
        else {
            return Ok(());
        };
        let expected = if known.is_empty() {
            "this plugin takes no arguments".to_string()
        } else {
            format!("expected one of: {}", known.join(", "))
        };
        Err(Error::argument(format!(
            "unknown argument `{key}`: {expected}"
        )))
    }
}

impl From<Vec<(String, String)>> for Args {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Self::new(pairs)
    }
}

/// A duration given as an argument: whole numbers with the units `s`, `m`,
/// `h` or `d`, alone or combined from the largest unit down, such as
/// `90s`, `30m`, `1h30m` or `2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationArg(pub Duration);

impl DurationArg {
    /// Creates a duration of `seconds` seconds.
    pub fn from_secs(seconds: u64) -> Self {
        Self(Duration::from_secs(seconds))
    }

    /// Returns the duration in whole seconds.
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl From<DurationArg> for Duration {
    fn from(duration: DurationArg) -> Self {
        duration.0
    }
}

/// Seconds per unit, from the largest unit down.
const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)];

impl FromStr for DurationArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!(
                "`{text}` is not a duration: use a number with s, m, h or d, such as 90s, 1h30m or 2d"
            )
        };
        if text.is_empty() {
            return Err(invalid());
        }
        let mut seconds: u64 = 0;
        let mut rest = text;
        // Each unit may appear once, after every larger unit.
        let mut allowed = &UNITS[..];
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(invalid)?;
            let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            let unit = rest[digits..].chars().next().ok_or_else(invalid)?;
            let position = allowed
                .iter()
                .position(|(name, _)| *name == unit)
                .ok_or_else(invalid)?;
            let part = number
                .checked_mul(allowed[position].1)
                .ok_or_else(invalid)?;
            seconds = seconds.checked_add(part).ok_or_else(invalid)?;
            allowed = &allowed[position + 1..];
            rest = &rest[digits + unit.len_utf8()..];
        }
        Ok(Self::from_secs(seconds))
    }
}

impl fmt::Display for DurationArg {
    /// Formats the duration the way [`FromStr`] reads it, such as `1h30m`,
    /// or `0s`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut seconds = self.as_secs();
        if seconds == 0 {
            return formatter.write_str("0s");
        }
        for (unit, size) in UNITS {
            if seconds >= size {
                write!(formatter, "{}{unit}", seconds / size)?;
                seconds %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Args {
        Args::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn get_parses_and_defaults() {
        let args = args(&[("restarts", "5"), ("delete", "true")]);
        assert_eq!(args.get::<u64>("restarts").unwrap(), Some(5));
        assert_eq!(args.get::<bool>("delete").unwrap(), Some(true));
        assert_eq!(args.get::<u64>("absent").unwrap().unwrap_or(3), 3);
    }

    #[test]
    fn last_value_wins() {
        let args = args(&[("restarts", "5"), ("restarts", "7")]);
        assert_eq!(args.get::<u64>("restarts").unwrap(), Some(7));
    }

    #[test]
    fn invalid_value_names_key() {
        let error = args(&[("restarts", "many")])
            .get::<u64>("restarts")
            .unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Argument);
        assert_eq!(
            error.to_string(),
            "invalid value for --arg restarts=many: invalid digit found in string"
        );
    }

    #[test]
    fn require_reports_missing_key() {
        let error = args(&[]).require::<String>("name").unwrap_err();
        assert_eq!(error.to_string(), "missing argument: pass --arg name=VALUE");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let args = args(&[("older-than", "1h"), ("olderthan", "2h")]);
        assert!(args.reject_unknown(&["older-than", "olderthan"]).is_ok());
        assert_eq!(
            args.reject_unknown(&["older-than", "delete"])
                .unwrap_err()
                .to_string(),
            "unknown argument `olderthan`: expected one of: older-than, delete"
        );
        assert_eq!(
            args.reject_unknown(&[]).unwrap_err().to_string(),
            "unknown argument `older-than`: this plugin takes no arguments"
        );
    }

    #[test]
    fn durations_parse_and_print() {
        let cases = [
            ("90s", 90),
            ("30m", 1800),
            ("1h30m", 5400),
            ("2d", 172_800),
            ("0s", 0),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                text.parse::<DurationArg>(),
                Ok(DurationArg::from_secs(seconds)),
                "{text}"
            );
        }
        for text in [
            "",
            "1",
            "h",
            "1h1d",
            "1h1h",
            "1 h",
            "-1h",
            "99999999999999999999d",
        ] {
            assert!(text.parse::<DurationArg>().is_err(), "{text}");
        }
        assert_eq!(DurationArg::from_secs(5400).to_string(), "1h30m");
        assert_eq!(DurationArg::from_secs(90_061).to_string(), "1d1h1m1s");
        assert_eq!(DurationArg::from_secs(0).to_string(), "0s");
    }
}
