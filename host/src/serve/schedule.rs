//! When a plugin runs under `lazyhost serve`: at a fixed interval
//! (`every = "5m"`) or on a 5-field cron expression (`cron = "*/5 * * * *"`)
//! evaluated in UTC.
//!
//! Calendar arithmetic is done here on Unix day numbers, so the module needs
//! no date-time crate.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Calendar years [`Cron::next_after`] searches past the year of its start
/// before it gives up. Eight is the longest gap between two February 29ths
/// (2096 to 2104, because 2100 is not a leap year), and a date that exists
/// at all repeats within that gap, so any expression that can fire is found.
const SEARCH_YEARS: i64 = 8;

/// Minutes in a day.
const MINUTES_PER_DAY: i64 = 24 * 60;

/// An invalid `every` interval or cron expression. The message names the
/// setting or cron field, the rejected value and what is accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScheduleError {
    message: String,
}

impl ScheduleError {
    fn new(message: String) -> Self {
        Self { message }
    }
}

/// When a plugin runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// A fixed interval between the starts of two runs.
    Every(Duration),
    /// A cron expression, evaluated in UTC.
    Cron(Cron),
}

impl Schedule {
    /// Parses an `every` interval such as `30s`, `5m` or `1h 30m`.
    ///
    /// # Errors
    ///
    /// Rejects text that is not a duration, and intervals shorter than one
    /// second, zero included.
    pub fn parse_every(text: &str) -> Result<Self, ScheduleError> {
        let trimmed = text.trim();
        let interval = humantime::parse_duration(trimmed).map_err(|error| {
            ScheduleError::new(format!(
                "`every` has `{trimmed}`, which is not a duration ({error}): \
                 use an interval such as 30s, 5m or 1h30m"
            ))
        })?;
        if interval < Duration::from_secs(1) {
            return Err(ScheduleError::new(format!(
                "`every` has `{trimmed}`: the interval must be at least 1s, \
                 such as 30s, 5m or 1h30m"
            )));
        }
        Ok(Self::Every(interval))
    }

    /// Parses a cron expression in the syntax that [`Cron`] describes.
    ///
    /// # Errors
    ///
    /// Returns the error of [`Cron::from_str`].
    pub fn parse_cron(text: &str) -> Result<Self, ScheduleError> {
        text.parse().map(Self::Cron)
    }

    /// Returns the first fire time strictly after `after`, or `None` when
    /// there is none.
    ///
    /// For [`Schedule::Every`] the caller passes the start of the previous
    /// run, and the result is `after` plus the interval. It is `None` only
    /// when that sum overflows [`SystemTime`]. For [`Schedule::Cron`], see
    /// [`Cron::next_after`].
    #[must_use]
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        match self {
            Self::Every(interval) => after.checked_add(*interval),
            Self::Cron(cron) => cron.next_after(after),
        }
    }
}

impl fmt::Display for Schedule {
    /// Writes the schedule as a user writes it: `every 5m` or
    /// `cron "*/5 * * * *"`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every(interval) => {
                write!(formatter, "every {}", humantime::format_duration(*interval))
            }
            Self::Cron(cron) => write!(formatter, "cron \"{cron}\""),
        }
    }
}

/// A standard 5-field crontab expression, evaluated in UTC.
///
/// The fields are minute (0-59), hour (0-23), day of month (1-31), month
/// (1-12 or `JAN`-`DEC`) and day of week (0-7 or `SUN`-`SAT`, where 0 and 7
/// are both Sunday). Names are case-insensitive. Each field is `*`, a value,
/// a range `1-5`, a step over all values `*/15` or over a range `10-50/10`,
/// or a comma-separated list of those. The macros `@yearly` (or
/// `@annually`), `@monthly`, `@weekly`, `@daily` (or `@midnight`) and
/// `@hourly` stand for `0 0 1 1 *`, `0 0 1 * *`, `0 0 * * 0`, `0 0 * * *`
/// and `0 * * * *`.
///
/// Day of month and day of week combine as in classic cron: when both are
/// restricted, a day that matches either one fires, and when one of them is
/// `*`, only the other counts. A field counts as `*` only when it is exactly
/// `*`. Vixie cron also treats a field that starts with `*`, such as `*/2`,
/// as unrestricted, but here `*/2` is a restriction like any other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    /// The expression as written, with fields separated by single spaces.
    source: String,
    minutes: Bits,
    hours: Bits,
    days_of_month: Bits,
    months: Bits,
    /// Sunday is bit 0: a 7 in the expression is stored there.
    days_of_week: Bits,
    /// Whether the day-of-month field is other than `*`.
    day_of_month_restricted: bool,
    /// Whether the day-of-week field is other than `*`.
    day_of_week_restricted: bool,
}

impl Cron {
    /// Returns the expression as written, with fields separated by single
    /// spaces.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Returns the first minute that matches the expression strictly after
    /// `after`, in UTC.
    ///
    /// The search skips whole months, days and hours that cannot match, so
    /// it takes a few steps per day it checks, at most about 3,500 steps
    /// over the nine years it covers. It looks through the end of
    /// the eighth calendar year after `after`'s year, the longest gap
    /// between two February 29ths. It returns `None` for an expression that
    /// can never fire, such as `0 0 30 2 *`, and when the result cannot be
    /// represented as a [`SystemTime`].
    #[must_use]
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let first_minute = unix_seconds_floor(after)?.div_euclid(60).checked_add(1)?;
        let (mut year, mut month, mut day) =
            civil_from_days(first_minute.div_euclid(MINUTES_PER_DAY));
        let minute_of_day = first_minute.rem_euclid(MINUTES_PER_DAY);
        let mut hour = (minute_of_day / 60) as u32;
        let mut minute = (minute_of_day % 60) as u32;
        let last_year = year.checked_add(SEARCH_YEARS)?;

        // Each step below either returns or moves the cursor forward to the
        // first candidate of the next month, day or hour. A month of 13, a
        // day past the month's end or an hour of 24 rolls over on the next
        // pass.
        while year <= last_year {
            let Some(next_month) = self.months.first_at_or_after(month) else {
                (year, month, day, hour, minute) = (year + 1, 1, 1, 0, 0);
                continue;
            };
            if next_month != month {
                (month, day, hour, minute) = (next_month, 1, 0, 0);
            }
            if day > days_in_month(year, month) {
                (month, day, hour, minute) = (month + 1, 1, 0, 0);
                continue;
            }
            if !self.day_matches(year, month, day) {
                (day, hour, minute) = (day + 1, 0, 0);
                continue;
            }
            let Some(next_hour) = self.hours.first_at_or_after(hour) else {
                (day, hour, minute) = (day + 1, 0, 0);
                continue;
            };
            if next_hour != hour {
                (hour, minute) = (next_hour, 0);
            }
            let Some(next_minute) = self.minutes.first_at_or_after(minute) else {
                (hour, minute) = (hour + 1, 0);
                continue;
            };
            let days = days_from_civil(year, month, day);
            let seconds = (days * MINUTES_PER_DAY + i64::from(hour * 60 + next_minute)) * 60;
            return system_time_from_unix_seconds(seconds);
        }
        None
    }

    /// Applies the classic day-of-month and day-of-week rule to one date.
    fn day_matches(&self, year: i64, month: u32, day: u32) -> bool {
        let by_month_day = self.days_of_month.contains(day);
        let weekday = weekday_from_days(days_from_civil(year, month, day));
        let by_weekday = self.days_of_week.contains(weekday);
        match (self.day_of_month_restricted, self.day_of_week_restricted) {
            (true, true) => by_month_day || by_weekday,
            (true, false) => by_month_day,
            (false, true) => by_weekday,
            (false, false) => true,
        }
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.source)
    }
}

impl FromStr for Cron {
    type Err = ScheduleError;

    /// Parses a 5-field expression or a macro such as `@daily`.
    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if let [single] = fields.as_slice()
            && single.starts_with('@')
        {
            let mut cron = parse_fields(expand_macro(single)?)?;
            cron.source = (*single).to_string();
            return Ok(cron);
        }
        let Ok(five) = <[&str; 5]>::try_from(fields.as_slice()) else {
            let normalized = fields.join(" ");
            return Err(ScheduleError::new(format!(
                "cron expression `{normalized}` has {} fields: use 5 (minute hour \
                 day-of-month month day-of-week), such as `*/5 * * * *`, or a \
                 macro such as @daily",
                fields.len()
            )));
        };
        parse_fields(five)
    }
}

/// Returns the 5-field form of a macro such as `@daily`.
fn expand_macro(name: &str) -> Result<[&'static str; 5], ScheduleError> {
    let expanded = match name.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => ["0", "0", "1", "1", "*"],
        "@monthly" => ["0", "0", "1", "*", "*"],
        "@weekly" => ["0", "0", "*", "*", "0"],
        "@daily" | "@midnight" => ["0", "0", "*", "*", "*"],
        "@hourly" => ["0", "*", "*", "*", "*"],
        _ => {
            return Err(ScheduleError::new(format!(
                "cron expression `{name}` is not a known macro: use @yearly, \
                 @annually, @monthly, @weekly, @daily, @midnight or @hourly"
            )));
        }
    };
    Ok(expanded)
}

/// Parses the five fields in order, so the first invalid one is reported.
fn parse_fields(fields: [&str; 5]) -> Result<Cron, ScheduleError> {
    let [minute, hour, day_of_month, month, day_of_week] = fields;
    let minutes = Field::MINUTE.parse(minute)?;
    let hours = Field::HOUR.parse(hour)?;
    let days_of_month = Field::DAY_OF_MONTH.parse(day_of_month)?;
    let months = Field::MONTH.parse(month)?;
    let mut days_of_week = Field::DAY_OF_WEEK.parse(day_of_week)?;
    if days_of_week.contains(7) {
        days_of_week = Bits(days_of_week.0 & !(1 << 7)).with(0);
    }
    Ok(Cron {
        source: fields.join(" "),
        minutes,
        hours,
        days_of_month,
        months,
        days_of_week,
        day_of_month_restricted: day_of_month != "*",
        day_of_week_restricted: day_of_week != "*",
    })
}

/// A set of small numbers (0 to 63), one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bits(u64);

impl Bits {
    fn with(self, value: u32) -> Self {
        Self(self.0 | 1 << value)
    }

    fn contains(self, value: u32) -> bool {
        value < 64 && self.0 & (1 << value) != 0
    }

    /// Returns the smallest member that is at least `value`.
    fn first_at_or_after(self, value: u32) -> Option<u32> {
        if value >= 64 {
            return None;
        }
        let remaining = self.0 & (u64::MAX << value);
        (remaining != 0).then(|| remaining.trailing_zeros())
    }
}

/// The accepted values of one cron field.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names of the values from `min` on, upper case.
    names: &'static [&'static str],
    /// Accepted forms, for error messages.
    hint: &'static str,
}

impl Field {
    const MINUTE: Self = Self {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        hint: "use 0-59, a list, a range or a step such as */15",
    };
    const HOUR: Self = Self {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        hint: "use 0-23, a list, a range or a step such as */6",
    };
    const DAY_OF_MONTH: Self = Self {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        hint: "use 1-31, a list, a range or a step such as */2",
    };
    const MONTH: Self = Self {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
        hint: "use 1-12 or JAN-DEC, a list, a range or a step such as */3",
    };
    const DAY_OF_WEEK: Self = Self {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
        hint: "use 0-7 or SUN-SAT (0 and 7 are Sunday), a list, a range such as MON-FRI \
               or a step such as */2",
    };

    /// Parses a whole field: a comma-separated list of items.
    fn parse(&self, text: &str) -> Result<Bits, ScheduleError> {
        let mut bits = Bits(0);
        for item in text.split(',') {
            if item.is_empty() {
                return Err(self.error(format!("has an empty list item in `{text}`")));
            }
            bits = Bits(bits.0 | self.parse_item(item, text)?.0);
        }
        Ok(bits)
    }

    /// Parses one list item: `*`, a value or a range, with an optional step.
    fn parse_item(&self, item: &str, field: &str) -> Result<Bits, ScheduleError> {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        let (first, last) = if base == "*" {
            (self.min, self.max)
        } else if let Some((start, end)) = base.split_once('-') {
            let first = self.parse_value(start, item, field)?;
            let last = self.parse_value(end, item, field)?;
            if first > last {
                return Err(self.error(format!(
                    "has `{item}`, a range whose start is after its end"
                )));
            }
            (first, last)
        } else {
            let value = self.parse_value(base, item, field)?;
            if step.is_some() {
                return Err(ScheduleError::new(format!(
                    "cron field `{}` has `{item}`, a step after a single value: \
                     put `*` or a range before the step, such as {value}-{}/{}",
                    self.name,
                    self.max,
                    step.unwrap_or_default()
                )));
            }
            (value, value)
        };
        let step = match step {
            None => 1,
            Some(text) => match text.parse::<u32>() {
                Ok(step) if step > 0 => step,
                _ => {
                    return Err(self.error(format!(
                        "has `{item}`, whose step `{text}` is not a whole number of 1 or more"
                    )));
                }
            },
        };
        let mut bits = Bits(0);
        for value in (first..=last).step_by(step as usize) {
            bits = bits.with(value);
        }
        Ok(bits)
    }

    /// Parses a number or a name within the field's bounds.
    fn parse_value(&self, text: &str, item: &str, field: &str) -> Result<u32, ScheduleError> {
        let by_name = self
            .names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
            .map(|index| self.min + index as u32);
        let by_number = text.parse::<u32>().ok().filter(|value| {
            // Only digits count: `parse` also takes a leading `+`.
            text.bytes().all(|byte| byte.is_ascii_digit()) && (self.min..=self.max).contains(value)
        });
        by_name.or(by_number).ok_or_else(|| {
            let context = if item == field {
                String::new()
            } else {
                format!(" in `{field}`")
            };
            self.error(format!("has `{text}`{context}"))
        })
    }

    fn error(&self, problem: String) -> ScheduleError {
        ScheduleError::new(format!(
            "cron field `{}` {problem}: {}",
            self.name, self.hint
        ))
    }
}

/// Returns the whole seconds since the Unix epoch, rounded down, or `None`
/// when they do not fit in an `i64`.
fn unix_seconds_floor(time: SystemTime) -> Option<i64> {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).ok(),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).ok()?;
            let partial = i64::from(before.subsec_nanos() > 0);
            whole.checked_neg()?.checked_sub(partial)
        }
    }
}

fn system_time_from_unix_seconds(seconds: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days in one 400-year cycle of the Gregorian calendar, which repeats
/// exactly every 400 years.
const DAYS_PER_ERA: i64 = 146_097;

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
/// Counting from March puts February 29 at the end of each year.
const DAYS_FROM_MARCH_ZERO_TO_EPOCH: i64 = 719_468;

/// Returns the days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Years start on March 1 here, so January and February belong to the
    // previous year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    // Months from March have 31, 30, 31, 30, 31 days and then repeat, which
    // `(153 * m + 2) / 5` counts exactly.
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - DAYS_FROM_MARCH_ZERO_TO_EPOCH
}

/// Returns the proleptic Gregorian date (year, month, day) of a day counted
/// from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + DAYS_FROM_MARCH_ZERO_TO_EPOCH;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted.rem_euclid(DAYS_PER_ERA);
    // Leap days fall every 1460 days, except every 36524 days, except the
    // last day of the era; removing them leaves 365-day years.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

/// Returns the day of the week, 0 for Sunday, of a day counted from
/// 1970-01-01, which was a Thursday.
fn weekday_from_days(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn show(time: SystemTime) -> String {
        humantime::format_rfc3339_seconds(time).to_string()
    }

    fn cron(text: &str) -> Cron {
        text.parse()
            .unwrap_or_else(|error| panic!("`{text}` should parse: {error}"))
    }

    /// Returns the next `count` fire times after `start`, as RFC 3339.
    fn fires(expression: &str, start: &str, count: usize) -> Vec<String> {
        let cron = cron(expression);
        let mut after = at(start);
        let mut times = Vec::new();
        for _ in 0..count {
            let Some(next) = cron.next_after(after) else {
                break;
            };
            times.push(show(next));
            after = next;
        }
        times
    }

    fn error_of(expression: &str) -> String {
        match expression.parse::<Cron>() {
            Ok(cron) => panic!("`{expression}` should be rejected, parsed as {cron:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in -800_000..800_000 {
            let (year, month, day) = civil_from_days(days);
            assert!((1..=12).contains(&month), "day {days}: month {month}");
            assert!(day >= 1, "day {days}: day of month {day}");
            assert!(
                day <= days_in_month(year, month),
                "day {days}: day of month {day}"
            );
            assert_eq!(
                days_from_civil(year, month, day),
                days,
                "{year}-{month}-{day}"
            );
        }
    }

    #[test]
    fn civil_dates_agree_with_humantime() {
        // humantime formats dates with its own calendar code, from 1970 on.
        for days in (0..100_000).step_by(7) {
            let time = UNIX_EPOCH + Duration::from_secs(days as u64 * 86_400);
            let (year, month, day) = civil_from_days(days);
            let expected = format!("{year:04}-{month:02}-{day:02}T00:00:00Z");
            assert_eq!(show(time), expected);
        }
    }

    #[test]
    fn weekdays_of_known_dates() {
        assert_eq!(weekday_from_days(0), 4, "1970-01-01 was a Thursday");
        assert_eq!(weekday_from_days(-4), 0, "1969-12-28 was a Sunday");
        assert_eq!(weekday_from_days(days_from_civil(2024, 6, 2)), 0);
        assert_eq!(weekday_from_days(days_from_civil(2024, 1, 13)), 6);
    }

    #[test]
    fn every_fires_one_interval_after() {
        let schedule = Schedule::parse_every("5m").unwrap();
        let start = at("2024-01-01T10:00:07.250Z");
        assert_eq!(
            schedule.next_after(start),
            Some(start + Duration::from_secs(300))
        );
        assert_eq!(schedule, Schedule::Every(Duration::from_secs(300)));
    }

    #[test]
    fn every_accepts_whole_and_fractional_seconds() {
        assert_eq!(
            Schedule::parse_every("1s"),
            Ok(Schedule::Every(Duration::from_secs(1)))
        );
        assert_eq!(
            Schedule::parse_every(" 1500ms "),
            Ok(Schedule::Every(Duration::from_millis(1500)))
        );
        assert_eq!(
            Schedule::parse_every("1h 30m"),
            Ok(Schedule::Every(Duration::from_secs(5400)))
        );
    }

    #[test]
    fn every_rejects_zero_and_sub_second() {
        for text in ["0", "0s", "500ms", "999ms"] {
            let error = Schedule::parse_every(text).unwrap_err().to_string();
            assert_eq!(
                error,
                format!(
                    "`every` has `{text}`: the interval must be at least 1s, \
                     such as 30s, 5m or 1h30m"
                )
            );
        }
    }

    #[test]
    fn every_rejects_text_that_is_not_a_duration() {
        for text in ["", "soon", "5", "5 parsecs", "-5m"] {
            let error = Schedule::parse_every(text).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("`every` has `{text}`, which is not a duration (")),
                "{error}"
            );
            assert!(
                error.ends_with("use an interval such as 30s, 5m or 1h30m"),
                "{error}"
            );
        }
    }

    #[test]
    fn every_overflow_has_no_next() {
        let schedule = Schedule::Every(Duration::MAX);
        assert_eq!(schedule.next_after(UNIX_EPOCH), None);
    }

    #[test]
    fn display_shows_written_form() {
        assert_eq!(Schedule::parse_every("5m").unwrap().to_string(), "every 5m");
        assert_eq!(
            Schedule::parse_every("90s").unwrap().to_string(),
            "every 1m 30s"
        );
        assert_eq!(
            Schedule::parse_cron("*/5 * * * *").unwrap().to_string(),
            "cron \"*/5 * * * *\""
        );
        assert_eq!(
            Schedule::parse_cron("  0   9 * *\tMON-FRI ")
                .unwrap()
                .to_string(),
            "cron \"0 9 * * MON-FRI\""
        );
        assert_eq!(
            Schedule::parse_cron("@daily").unwrap().to_string(),
            "cron \"@daily\""
        );
        assert_eq!(cron("@Hourly").as_str(), "@Hourly");
    }

    #[test]
    fn cron_fires_strictly_after() {
        assert_eq!(
            fires("*/5 * * * *", "2024-05-01T12:03:10Z", 3),
            [
                "2024-05-01T12:05:00Z",
                "2024-05-01T12:10:00Z",
                "2024-05-01T12:15:00Z"
            ]
        );
        assert_eq!(
            fires("*/5 * * * *", "2024-05-01T12:05:00Z", 1),
            ["2024-05-01T12:10:00Z"]
        );
        assert_eq!(
            fires("* * * * *", "2024-05-01T12:04:59.999Z", 1),
            ["2024-05-01T12:05:00Z"]
        );
    }

    #[test]
    fn cron_rolls_over_hour_day_month_year() {
        assert_eq!(
            fires("0 * * * *", "2024-05-01T23:00:00Z", 1),
            ["2024-05-02T00:00:00Z"]
        );
        assert_eq!(
            fires("30 2 * * *", "2024-04-30T03:00:00Z", 1),
            ["2024-05-01T02:30:00Z"]
        );
        assert_eq!(
            fires("59 23 31 12 *", "2024-12-31T23:59:00Z", 2),
            ["2025-12-31T23:59:00Z", "2026-12-31T23:59:00Z"]
        );
    }

    #[test]
    fn cron_lists_ranges_and_steps() {
        assert_eq!(
            fires("10-50/10 * * * *", "2024-05-01T12:00:00Z", 6),
            [
                "2024-05-01T12:10:00Z",
                "2024-05-01T12:20:00Z",
                "2024-05-01T12:30:00Z",
                "2024-05-01T12:40:00Z",
                "2024-05-01T12:50:00Z",
                "2024-05-01T13:10:00Z",
            ]
        );
        assert_eq!(
            fires("1,5 8-9 * * *", "2024-05-01T00:00:00Z", 5),
            [
                "2024-05-01T08:01:00Z",
                "2024-05-01T08:05:00Z",
                "2024-05-01T09:01:00Z",
                "2024-05-01T09:05:00Z",
                "2024-05-02T08:01:00Z",
            ]
        );
        assert_eq!(
            fires("0 */6 * * *", "2024-05-01T00:00:00Z", 4),
            [
                "2024-05-01T06:00:00Z",
                "2024-05-01T12:00:00Z",
                "2024-05-01T18:00:00Z",
                "2024-05-02T00:00:00Z",
            ]
        );
        assert_eq!(
            fires("0 0 1-31/10 * *", "2024-02-01T00:00:00Z", 4),
            [
                "2024-02-11T00:00:00Z",
                "2024-02-21T00:00:00Z",
                "2024-03-01T00:00:00Z",
                "2024-03-11T00:00:00Z",
            ]
        );
    }

    #[test]
    fn cron_month_and_day_names() {
        assert_eq!(
            fires("0 0 1 jan,Jul *", "2024-02-01T00:00:00Z", 2),
            ["2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"]
        );
        // 2024-06-01 is a Saturday.
        assert_eq!(
            fires("30 9 * * mon-FRI", "2024-06-01T00:00:00Z", 2),
            ["2024-06-03T09:30:00Z", "2024-06-04T09:30:00Z"]
        );
        assert_eq!(
            fires("0 0 * APR-jun/2 *", "2024-04-30T00:00:00Z", 2),
            ["2024-06-01T00:00:00Z", "2024-06-02T00:00:00Z"]
        );
    }

    #[test]
    fn cron_sunday_is_zero_or_seven() {
        // 2024-06-02 and 2024-06-09 are Sundays.
        let expected = ["2024-06-02T00:00:00Z", "2024-06-09T00:00:00Z"];
        for expression in ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "0 0 * * 0,7"] {
            assert_eq!(
                fires(expression, "2024-06-01T00:00:00Z", 2),
                expected,
                "{expression}"
            );
        }
        assert_eq!(
            fires("0 0 * * 5-7", "2024-06-01T00:00:00Z", 3),
            [
                "2024-06-02T00:00:00Z",
                "2024-06-07T00:00:00Z",
                "2024-06-08T00:00:00Z"
            ]
        );
    }

    #[test]
    fn cron_day_of_month_or_day_of_week() {
        // Both restricted: the 13th or any Friday. 2024-01-05 is a Friday
        // and 2024-01-13 a Saturday.
        assert_eq!(
            fires("0 0 13 * FRI", "2024-01-01T00:00:00Z", 4),
            [
                "2024-01-05T00:00:00Z",
                "2024-01-12T00:00:00Z",
                "2024-01-13T00:00:00Z",
                "2024-01-19T00:00:00Z",
            ]
        );
        // Day of week `*`: only the 13th counts.
        assert_eq!(
            fires("0 0 13 * *", "2024-01-01T00:00:00Z", 2),
            ["2024-01-13T00:00:00Z", "2024-02-13T00:00:00Z"]
        );
        // Day of month `*`: only Fridays count.
        assert_eq!(
            fires("0 0 * * FRI", "2024-01-06T00:00:00Z", 2),
            ["2024-01-12T00:00:00Z", "2024-01-19T00:00:00Z"]
        );
        // `*/2` counts as a restriction: odd days or Mondays.
        assert_eq!(
            fires("0 0 */2 * MON", "2024-01-01T00:00:00Z", 4),
            [
                "2024-01-03T00:00:00Z",
                "2024-01-05T00:00:00Z",
                "2024-01-07T00:00:00Z",
                "2024-01-08T00:00:00Z",
            ]
        );
    }

    #[test]
    fn cron_macros() {
        let start = "2024-05-15T10:30:00Z";
        assert_eq!(fires("@hourly", start, 1), ["2024-05-15T11:00:00Z"]);
        assert_eq!(fires("@daily", start, 1), ["2024-05-16T00:00:00Z"]);
        assert_eq!(fires("@midnight", start, 1), ["2024-05-16T00:00:00Z"]);
        // 2024-05-19 is a Sunday.
        assert_eq!(fires("@weekly", start, 1), ["2024-05-19T00:00:00Z"]);
        assert_eq!(fires("@monthly", start, 1), ["2024-06-01T00:00:00Z"]);
        assert_eq!(fires("@yearly", start, 1), ["2025-01-01T00:00:00Z"]);
        assert_eq!(fires("@ANNUALLY", start, 1), ["2025-01-01T00:00:00Z"]);
    }

    #[test]
    fn cron_february_29_across_century() {
        assert_eq!(
            fires("0 0 29 2 *", "2024-03-01T00:00:00Z", 2),
            ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
        );
        // 2100 is not a leap year, so the gap is 8 years, the longest the
        // search covers.
        assert_eq!(
            fires("0 0 29 2 *", "2096-02-29T00:00:00Z", 1),
            ["2104-02-29T00:00:00Z"]
        );
    }

    #[test]
    fn cron_impossible_dates_never_fire() {
        for expression in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 feb *"] {
            let cron = cron(expression);
            assert_eq!(
                cron.next_after(at("2024-01-01T00:00:00Z")),
                None,
                "{expression}"
            );
        }
        // A weekday restriction makes the same date fire on that weekday.
        assert_eq!(
            fires("0 0 30 2 MON", "2024-01-01T00:00:00Z", 1),
            ["2024-02-05T00:00:00Z"]
        );
    }

    #[test]
    fn cron_before_epoch() {
        let after = UNIX_EPOCH - Duration::from_millis(90_500);
        let next = cron("* * * * *").next_after(after).unwrap();
        assert_eq!(next, UNIX_EPOCH - Duration::from_secs(60));
        let next = cron("0 0 * * *").next_after(after).unwrap();
        assert_eq!(next, UNIX_EPOCH);
    }

    /// Returns whether `time` matches `cron`, decomposing it with humantime's
    /// formatter rather than this module's calendar code.
    fn matches_slowly(cron: &Cron, time: SystemTime) -> bool {
        let text = show(time);
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap();
        let (month, day, hour, minute) =
            (number(5..7), number(8..10), number(11..13), number(14..16));
        let days = time.duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400;
        let weekday = ((days + 4) % 7) as u32;
        let by_month_day = cron.days_of_month.contains(day);
        let by_weekday = cron.days_of_week.contains(weekday);
        let day_ok = match (cron.day_of_month_restricted, cron.day_of_week_restricted) {
            (true, true) => by_month_day || by_weekday,
            (true, false) => by_month_day,
            (false, true) => by_weekday,
            (false, false) => true,
        };
        cron.minutes.contains(minute)
            && cron.hours.contains(hour)
            && cron.months.contains(month)
            && day_ok
    }

    #[test]
    fn cron_agrees_with_minute_by_minute_search() {
        let expressions = [
            "*/7 * * * *",
            "13 */5 * * *",
            "0 0 29-31 * *",
            "45 23 * * 6,0",
            "0 12 15 * WED",
            "5 4 */3 feb-mar *",
            "0,30 9-17 * * mon-fri",
            "59 23 28-31 * 1",
        ];
        let start = at("2024-01-20T07:31:40Z");
        let end = at("2024-04-10T00:00:00Z");
        for expression in expressions {
            let cron = cron(expression);
            let mut expected = None;
            let mut minute = at("2024-01-20T07:32:00Z");
            while minute < end {
                if matches_slowly(&cron, minute) {
                    expected = Some(minute);
                    break;
                }
                minute += Duration::from_secs(60);
            }
            let mut after = start;
            while let Some(found) = expected {
                let next = cron.next_after(after);
                assert_eq!(
                    next.map(show),
                    Some(show(found)),
                    "{expression} after {}",
                    show(after)
                );
                after = found;
                // Find the following match the slow way.
                expected = None;
                let mut minute = found + Duration::from_secs(60);
                while minute < end {
                    if matches_slowly(&cron, minute) {
                        expected = Some(minute);
                        break;
                    }
                    minute += Duration::from_secs(60);
                }
            }
        }
    }

    #[test]
    fn cron_error_names_field_and_value() {
        let cases = [
            (
                "0 25 * * *",
                "cron field `hour` has `25`: use 0-23, a list, a range or a step such as */6",
            ),
            (
                "60 * * * *",
                "cron field `minute` has `60`: use 0-59, a list, a range or a step such as */15",
            ),
            (
                "0 0 0 * *",
                "cron field `day-of-month` has `0`: use 1-31, a list, a range or a step such as */2",
            ),
            (
                "0 0 32 * *",
                "cron field `day-of-month` has `32`: use 1-31, a list, a range or a step such as */2",
            ),
            (
                "0 0 * 13 *",
                "cron field `month` has `13`: use 1-12 or JAN-DEC, a list, a range or a step \
                 such as */3",
            ),
            (
                "0 0 * JANUARY *",
                "cron field `month` has `JANUARY`: use 1-12 or JAN-DEC, a list, a range or a \
                 step such as */3",
            ),
            (
                "0 0 * * 8",
                "cron field `day-of-week` has `8`: use 0-7 or SUN-SAT (0 and 7 are Sunday), a \
                 list, a range such as MON-FRI or a step such as */2",
            ),
            (
                "0 1,25 * * *",
                "cron field `hour` has `25` in `1,25`: use 0-23, a list, a range or a step such \
                 as */6",
            ),
            (
                "0 +5 * * *",
                "cron field `hour` has `+5`: use 0-23, a list, a range or a step such as */6",
            ),
            (
                "0 5-1 * * *",
                "cron field `hour` has `5-1`, a range whose start is after its end: use 0-23, a \
                 list, a range or a step such as */6",
            ),
            (
                "*/0 * * * *",
                "cron field `minute` has `*/0`, whose step `0` is not a whole number of 1 or \
                 more: use 0-59, a list, a range or a step such as */15",
            ),
            (
                "*/x * * * *",
                "cron field `minute` has `*/x`, whose step `x` is not a whole number of 1 or \
                 more: use 0-59, a list, a range or a step such as */15",
            ),
            (
                "5/15 * * * *",
                "cron field `minute` has `5/15`, a step after a single value: put `*` or a range \
                 before the step, such as 5-59/15",
            ),
            (
                "1,,2 * * * *",
                "cron field `minute` has an empty list item in `1,,2`: use 0-59, a list, a range \
                 or a step such as */15",
            ),
            (
                "0 0 * * SAT-SUN",
                "cron field `day-of-week` has `SAT-SUN`, a range whose start is after its end: \
                 use 0-7 or SUN-SAT (0 and 7 are Sunday), a list, a range such as MON-FRI or a \
                 step such as */2",
            ),
            (
                "* * * *",
                "cron expression `* * * *` has 4 fields: use 5 (minute hour day-of-month month \
                 day-of-week), such as `*/5 * * * *`, or a macro such as @daily",
            ),
            (
                "0 * * * * 2024",
                "cron expression `0 * * * * 2024` has 6 fields: use 5 (minute hour day-of-month \
                 month day-of-week), such as `*/5 * * * *`, or a macro such as @daily",
            ),
            (
                "  ",
                "cron expression `` has 0 fields: use 5 (minute hour day-of-month month \
                 day-of-week), such as `*/5 * * * *`, or a macro such as @daily",
            ),
            (
                "@often",
                "cron expression `@often` is not a known macro: use @yearly, @annually, \
                 @monthly, @weekly, @daily, @midnight or @hourly",
            ),
        ];
        for (expression, expected) in cases {
            assert_eq!(error_of(expression), expected, "{expression}");
        }
    }

    #[test]
    fn cron_error_reports_first_bad_field() {
        let error = error_of("60 * * * 8");
        assert!(error.starts_with("cron field `minute` has `60`"), "{error}");
    }

    #[test]
    fn cron_macro_with_extra_fields_is_rejected() {
        let error = error_of("@daily *");
        assert!(
            error.starts_with("cron expression `@daily *` has 2 fields"),
            "{error}"
        );
    }

    #[test]
    fn parse_cron_reports_cron_errors() {
        let error = Schedule::parse_cron("0 25 * * *").unwrap_err();
        assert_eq!(error.to_string(), error_of("0 25 * * *"));
    }
}
