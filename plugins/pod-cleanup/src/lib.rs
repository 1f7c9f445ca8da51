//! pod-cleanup: finds completed pods older than a threshold and deletes
//! them when asked.
//!
//! A pod is completed when its phase is `Succeeded` or `Failed`. By default
//! the plugin only reports; it deletes with `--arg delete=true`, which needs
//! the `write` grant. With lazyhost's `--dry-run` each delete is a
//! server-side dry run, so the report shows what a real run would do.
//!
//! Arguments:
//! - `older-than`: the age threshold, such as `90s`, `30m`, `2h` or `1d`
//!   (default `1h`);
//! - `namespace`: look in one namespace only (default: every namespace);
//! - `delete`: `true` to delete the pods found.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
});

use lazyhost::plugin::{kube_client, types};

/// Age above which a completed pod is cleaned up, unless `older-than` is given.
const DEFAULT_OLDER_THAN: u64 = 3600;

struct PodCleanup;

/// The options given with `--arg`.
struct Options {
    older_than: u64,
    namespace: Option<String>,
    delete: bool,
}

impl Guest for PodCleanup {
    fn run(cluster: String, args: Vec<(String, String)>) -> Result<String, String> {
        let options = parse_options(&args)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|error| format!("the clock is before 1970: {error}"))?
            .as_secs();
        let list_options = kube_client::ListOptions {
            namespace: options.namespace.clone(),
            label_selector: None,
            field_selector: None,
            limit: None,
            continue_token: None,
        };
        let list = kube_client::list(&cluster, "pods", &list_options)
            .map_err(|error| format!("listing pods failed: {}", describe(&error)))?;
        let list: Value = serde_json::from_str(&list).map_err(|error| error.to_string())?;

        let mut pods = Vec::new();
        for pod in list["items"].as_array().into_iter().flatten() {
            let phase = pod["status"]["phase"].as_str().unwrap_or_default();
            if !matches!(phase, "Succeeded" | "Failed") {
                continue;
            }
            let created = pod["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(parse_timestamp);
            let Some(age) = created.map(|created| now.saturating_sub(created)) else {
                continue;
            };
            if age < options.older_than {
                continue;
            }
            let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let mut entry = json!({
                "namespace": namespace,
                "name": name,
                "phase": phase,
                "age_seconds": age,
            });
            if options.delete {
                entry["result"] = match kube_client::delete(&cluster, "pods", Some(namespace), name)
                {
                    Ok(()) => json!("deleted"),
                    Err(error) => json!(describe(&error)),
                };
            }
            pods.push(entry);
        }

        let names: Vec<String> = pods
            .iter()
            .map(|pod| format!("{}/{}", pod["namespace"], pod["name"]).replace('"', ""))
            .collect();
        let action = if options.delete { "deleting" } else { "found" };
        let noun = if pods.len() == 1 { "pod" } else { "pods" };
        println!(
            "{cluster}: {action} {} completed {noun} older than {}{}{}",
            pods.len(),
            human_age(options.older_than),
            if names.is_empty() { "" } else { ": " },
            names.join(", ")
        );
        Ok(json!({
            "older_than_seconds": options.older_than,
            "delete": options.delete,
            "pods": pods,
        })
        .to_string())
    }
}

fn parse_options(args: &[(String, String)]) -> Result<Options, String> {
    let mut options = Options {
        older_than: DEFAULT_OLDER_THAN,
        namespace: None,
        delete: false,
    };
    for (key, value) in args {
        match key.as_str() {
            "older-than" => options.older_than = parse_age(value)?,
            "namespace" => options.namespace = Some(value.clone()),
            "delete" => {
                options.delete = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => return Err(format!("delete={other}: use true or false")),
                }
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`: use older-than, namespace or delete"
                ));
            }
        }
    }
    Ok(options)
}

/// Parses an age such as `90s`, `30m`, `2h` or `1d` into seconds.
fn parse_age(text: &str) -> Result<u64, String> {
    let invalid = || format!("older-than={text}: use a number with s, m, h or d, such as 2h");
    let unit = text.chars().last().ok_or_else(invalid)?;
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(invalid()),
    };
    let number: u64 = text[..text.len() - 1].parse().map_err(|_| invalid())?;
    number.checked_mul(seconds_per_unit).ok_or_else(invalid)
}

/// Formats seconds as the largest whole unit: `45s`, `12m`, `5h`, `3d`.
fn human_age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

/// Parses an RFC 3339 UTC timestamp as Kubernetes writes it
/// (`2026-12-04T18:30:00Z`) into seconds since the Unix epoch.
fn parse_timestamp(text: &str) -> Option<u64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut date = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.split(':').map(str::parse::<i64>);
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn describe(error: &types::Error) -> String {
    match error {
        types::Error::NotFound(message) => format!("not-found: {message}"),
        types::Error::AlreadyExists(message) => format!("already-exists: {message}"),
        types::Error::Conflict(message) => format!("conflict: {message}"),
        types::Error::Invalid(message) => format!("invalid: {message}"),
        types::Error::Forbidden(message) => format!("forbidden: {message}"),
        types::Error::Unauthorized(message) => format!("unauthorized: {message}"),
        types::Error::Unavailable(message) => format!("unavailable: {message}"),
        types::Error::Timeout(message) => format!("timeout: {message}"),
        types::Error::Denied(message) => format!("denied: {message}"),
    }
}

export!(PodCleanup);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_count_from_the_epoch() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2000-03-01T00:00:01Z"), Some(951_868_801));
        assert_eq!(parse_timestamp("2026-12-04T18:30:00Z"), Some(1_796_409_000));
        assert_eq!(parse_timestamp("2026-12-04 18:30:00"), None);
    }

    #[test]
    fn ages_take_one_unit() {
        assert_eq!(parse_age("90s"), Ok(90));
        assert_eq!(parse_age("2h"), Ok(7200));
        assert_eq!(parse_age("1d"), Ok(86_400));
        assert!(parse_age("2 hours").is_err());
        assert!(parse_age("").is_err());
        assert_eq!(human_age(7200), "2h");
    }
}
