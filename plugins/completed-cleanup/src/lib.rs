//! completed-cleanup: reports completed pods older than a threshold on each
//! cluster, and deletes them when asked. It is written with lazyhost-sdk.
//!
//! A pod is completed when its phase is `Succeeded`, or also `Failed` with
//! `--arg include-failed=true`. The plugin only reports what it would
//! delete unless it is given `--arg delete=true`, which needs the `write`
//! grant that its PLUGIN.toml requests. With lazyhost's `--dry-run`, each
//! delete is a server-side dry run.
//!
//! Arguments:
//! - `older-than`: the minimum age, such as `90s`, `30m`, `1h30m` or `2d`
//!   (default `1h`);
//! - `include-failed`: `true` to clean up `Failed` pods too (default `false`);
//! - `namespace`: look in one namespace only (default: every namespace);
//! - `delete`: `true` to delete the pods found (default `false`).

use lazyhost_sdk::k8s_openapi::api::core::v1::Pod;
use lazyhost_sdk::k8s_openapi::jiff::Timestamp;
use lazyhost_sdk::serde_json::{Value, json};
use lazyhost_sdk::{Args, DurationArg, Error, Plugin, client, export_plugin, kube, timed};

/// Minimum age of a pod to clean up when `older-than` is not given.
const DEFAULT_OLDER_THAN: DurationArg = DurationArg(std::time::Duration::from_secs(3600));

/// The arguments this plugin takes.
const ARGUMENTS: [&str; 4] = ["older-than", "include-failed", "namespace", "delete"];

struct CompletedCleanup;

/// The options given with `--arg`.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    older_than: DurationArg,
    include_failed: bool,
    namespace: Option<String>,
    delete: bool,
}

impl Options {
    fn parse(args: &Args) -> Result<Self, Error> {
        args.reject_unknown(&ARGUMENTS)?;
        Ok(Self {
            older_than: args.get("older-than")?.unwrap_or(DEFAULT_OLDER_THAN),
            include_failed: args.get("include-failed")?.unwrap_or(false),
            namespace: args.get("namespace")?,
            delete: args.get("delete")?.unwrap_or(false),
        })
    }
}

/// A completed pod old enough to clean up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    namespace: String,
    name: String,
    phase: String,
    age_seconds: i64,
}

impl Plugin for CompletedCleanup {
    fn run(cluster: &str, args: &Args) -> Result<Value, Error> {
        let options = Options::parse(args)?;
        let version = client::server_version(cluster)?.git_version;
        let params = kube::ListParams::default().namespace_opt(options.namespace.clone());
        let pods: Vec<Pod> = timed(cluster, "list-pods", || kube::list(cluster, &params))?;
        let candidates = select(&pods, lazyhost_sdk::now(), &options);

        let mut entries = Vec::new();
        let mut deleted = 0;
        let mut failed = 0;
        for candidate in &candidates {
            let mut entry = json!({
                "namespace": candidate.namespace,
                "name": candidate.name,
                "phase": candidate.phase,
                "age_seconds": candidate.age_seconds,
            });
            if options.delete {
                let result =
                    kube::delete::<Pod>(cluster, Some(&candidate.namespace), &candidate.name);
                entry["result"] = match result {
                    Ok(()) => {
                        deleted += 1;
                        json!("deleted")
                    }
                    // Another cleanup or the pod's owner removed it first.
                    Err(error) if error.is_not_found() => json!("already gone"),
                    Err(error) => {
                        failed += 1;
                        json!(error.to_string())
                    }
                };
            }
            entries.push(entry);
        }

        println!(
            "{}",
            summary(cluster, &version, &options, &candidates, deleted, failed)
        );
        Ok(json!({
            "cluster": cluster,
            "older_than": options.older_than.to_string(),
            "older_than_seconds": options.older_than.as_secs(),
            "include_failed": options.include_failed,
            "delete": options.delete,
            "deleted": deleted,
            "failed": failed,
            "pods": entries,
        }))
    }
}

/// Returns the completed pods of `pods` at least `options.older_than` old
/// at `now`, sorted by namespace and name. Pods without a creation time
/// are skipped.
fn select(pods: &[Pod], now: Timestamp, options: &Options) -> Vec<Candidate> {
    let minimum_age = i64::try_from(options.older_than.as_secs()).unwrap_or(i64::MAX);
    let mut candidates: Vec<Candidate> = pods
        .iter()
        .filter_map(|pod| {
            let phase = pod.status.as_ref()?.phase.as_deref()?;
            let completed = phase == "Succeeded" || (options.include_failed && phase == "Failed");
            if !completed {
                return None;
            }
            let created = pod.metadata.creation_timestamp.as_ref()?.0;
            let age_seconds = now.duration_since(created).as_secs();
            (age_seconds >= minimum_age).then(|| Candidate {
                namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                name: pod.metadata.name.clone().unwrap_or_default(),
                phase: phase.to_string(),
                age_seconds,
            })
        })
        .collect();
    candidates.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    candidates
}

/// Formats the human line of one cluster, such as
/// `sim-1 (v1.32.4): would delete 1 completed pod older than 1h: shop/db-migrate`.
fn summary(
    cluster: &str,
    version: &str,
    options: &Options,
    candidates: &[Candidate],
    deleted: usize,
    failed: usize,
) -> String {
    let noun = if candidates.len() == 1 { "pod" } else { "pods" };
    let action = if !options.delete {
        format!("would delete {} completed {noun}", candidates.len())
    } else if failed == 0 {
        format!("deleted {deleted} of {} completed {noun}", candidates.len())
    } else {
        format!(
            "deleted {deleted} of {} completed {noun}, {failed} failed",
            candidates.len()
        )
    };
    let names: Vec<String> = candidates
        .iter()
        .map(|candidate| format!("{}/{}", candidate.namespace, candidate.name))
        .collect();
    let list = if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    };
    format!(
        "{cluster} ({version}): {action} older than {}{list}",
        options.older_than
    )
}

export_plugin!(CompletedCleanup);

#[cfg(test)]
mod tests {
    use lazyhost_sdk::k8s_openapi::api::core::v1::PodStatus;
    use lazyhost_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;

    fn now() -> Timestamp {
        "2026-12-05T12:00:00Z".parse().unwrap()
    }

    fn pod(name: &str, phase: &str, age_seconds: i64) -> Pod {
        let created =
            now() - lazyhost_sdk::k8s_openapi::jiff::SignedDuration::from_secs(age_seconds);
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some("jobs".to_string()),
                creation_timestamp: Some(Time(created)),
                ..ObjectMeta::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.to_string()),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    fn options(pairs: &[(&str, &str)]) -> Result<Options, Error> {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::parse(&Args::new(pairs))
    }

    fn names(candidates: &[Candidate]) -> Vec<&str> {
        candidates
            .iter()
            .map(|candidate| candidate.name.as_str())
            .collect()
    }

    #[test]
    fn defaults_report_only() {
        let options = options(&[]).unwrap();
        assert_eq!(options.older_than.as_secs(), 3600);
        assert!(!options.include_failed);
        assert!(!options.delete);
        assert_eq!(options.namespace, None);
    }

    #[test]
    fn unknown_argument_is_rejected() {
        let error = options(&[("older_than", "2h")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown argument `older_than`: expected one of: older-than, include-failed, namespace, delete"
        );
    }

    #[test]
    fn succeeded_pods_past_threshold() {
        let pods = [
            pod("old-done", "Succeeded", 7200),
            pod("new-done", "Succeeded", 600),
            pod("exact-done", "Succeeded", 3600),
            pod("old-failed", "Failed", 7200),
            pod("old-running", "Running", 7200),
        ];
        let selected = select(&pods, now(), &options(&[]).unwrap());
        assert_eq!(names(&selected), ["exact-done", "old-done"]);
        assert_eq!(selected[1].age_seconds, 7200);
        assert_eq!(selected[1].phase, "Succeeded");
    }

    #[test]
    fn include_failed_adds_failed_pods() {
        let pods = [
            pod("old-failed", "Failed", 7200),
            pod("old-done", "Succeeded", 7200),
        ];
        let options = options(&[("include-failed", "true"), ("older-than", "1h30m")]).unwrap();
        assert_eq!(
            names(&select(&pods, now(), &options)),
            ["old-done", "old-failed"]
        );
    }

    #[test]
    fn pod_without_creation_time_skipped() {
        let mut undated = pod("undated", "Succeeded", 7200);
        undated.metadata.creation_timestamp = None;
        assert!(select(&[undated], now(), &options(&[]).unwrap()).is_empty());
    }

    #[test]
    fn summary_names_pods_and_action() {
        let candidates = [Candidate {
            namespace: "shop".into(),
            name: "db-migrate".into(),
            phase: "Failed".into(),
            age_seconds: 180_000,
        }];
        let report = options(&[]).unwrap();
        assert_eq!(
            summary("sim-1", "v1.32.4", &report, &candidates, 0, 0),
            "sim-1 (v1.32.4): would delete 1 completed pod older than 1h: shop/db-migrate"
        );
        let delete = options(&[("delete", "true"), ("older-than", "2d")]).unwrap();
        assert_eq!(
            summary("sim-2", "v1.31.9", &delete, &[], 0, 0),
            "sim-2 (v1.31.9): deleted 0 of 0 completed pods older than 2d"
        );
    }
}
