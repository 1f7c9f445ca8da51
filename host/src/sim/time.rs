//! Timestamps in the API's RFC 3339 form and the short ages that `kubectl get`
//! shows in its AGE column.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Returns the current time truncated to whole seconds, as the API stores timestamps.
pub(crate) fn now() -> Timestamp {
    truncate(Timestamp::now())
}

/// Drops the sub-second part of `time`.
pub(crate) fn truncate(time: Timestamp) -> Timestamp {
    Timestamp::from_second(time.as_second()).unwrap_or(time)
}

/// Formats `time` as RFC 3339 in UTC with a `Z` suffix, such as `2025-01-02T03:04:05Z`.
pub(crate) fn format(time: Timestamp) -> String {
    truncate(time).to_string()
}

/// Returns `time` moved back by `hours`.
pub(crate) fn hours_before(time: Timestamp, hours: i64) -> Timestamp {
    time.checked_sub(SignedDuration::from_hours(hours))
        .unwrap_or(time)
}

/// Formats the age of an RFC 3339 timestamp relative to `now`, or `<unknown>` when
/// it does not parse.
pub(crate) fn age(timestamp: &str, now: Timestamp) -> String {
    match timestamp.parse::<Timestamp>() {
        Ok(time) => human_duration(now.as_second() - time.as_second()),
        Err(_) => "<unknown>".to_string(),
    }
}

/// Formats a duration in seconds the way kube-apiserver's table printers do:
/// two units while they fit in the column's precision, one unit after that
/// (`45s`, `3m20s`, `2h5m`, `12h`, `3d4h`, `30d`, `2y10d`, `9y`).
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let years = days / 365;
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        with_remainder(minutes, "m", seconds % 60, "s")
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        with_remainder(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        with_remainder(days, "d", hours % 24, "h")
    } else if hours < 24 * 365 * 2 {
        format!("{days}d")
    } else if hours < 24 * 365 * 8 {
        with_remainder(years, "y", days % 365, "d")
    } else {
        format!("{years}y")
    }
}

fn with_remainder(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_units() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (45, "45s"),
            (119, "119s"),
            (200, "3m20s"),
            (240, "4m"),
            (3_000, "50m"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (12 * 3600 + 59, "12h"),
            (3 * 86_400 + 4 * 3600, "3d4h"),
            (2 * 86_400, "2d"),
            (30 * 86_400 + 60, "30d"),
            (740 * 86_400, "2y10d"),
            (9 * 365 * 86_400, "9y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "seconds = {seconds}");
        }
    }

    #[test]
    fn format_rfc3339_z() {
        let time: Timestamp = "2025-03-04T05:06:07.891Z".parse().unwrap();
        assert_eq!(format(time), "2025-03-04T05:06:07Z");
    }
}
