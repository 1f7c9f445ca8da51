"""rollout-report: reports the deployments of a cluster whose rollout lags.

For the target cluster the plugin lists deployments in every namespace, or
in the one given with `--arg namespace=NAME`. It reports each deployment
whose available replicas are fewer than its desired replicas, with its
updated replicas, its age and the reason from its Progressing and Available
conditions.
"""

import json
import time
from datetime import datetime, timezone

import wit_world
from componentize_py_types import Err
from wit_world.imports import client, kube_client, stats, types

# Page size of the deployment list. A cluster with more deployments is read in
# several pages.
PAGE_SIZE = 500

# The verb under which the plugin records the time its list took.
LIST_VERB = "rollout-report-list"

# Argument keys that `run` accepts.
KNOWN_ARGS = {"namespace"}

# Maximum number of lagging deployments named in the printed line. The JSON
# result lists all of them.
MAX_NAMED_IN_LINE = 3


class WitWorld(wit_world.WitWorld):
    """The plugin world's export; componentize-py looks the class up by this name."""

    def run(self, cluster: str, args: list[tuple[str, str]]) -> str:
        namespace = parse_args(args)
        try:
            version = client.server_version(cluster).git_version
            deployments, list_ms = list_deployments(cluster, namespace)
        except Err as error:
            raise Err(describe(error.value))

        now = datetime.now(timezone.utc)
        lagging = [lagging_entry(d, now) for d in deployments if is_lagging(d)]
        lagging.sort(key=lambda entry: (entry["namespace"], entry["name"]))

        print(summary_line(cluster, version, len(deployments), lagging))
        report = {
            "cluster": cluster,
            "server_version": version,
            "namespace": namespace,
            "deployments_checked": len(deployments),
            "lagging": lagging,
            "list_ms": round(list_ms, 3),
            "lists_recorded": lists_recorded(cluster),
        }
        return json.dumps(report)


def parse_args(args: list[tuple[str, str]]) -> str | None:
    """Return the namespace given with `namespace=NAME`, or None for every namespace."""
    namespace = None
    for key, value in args:
        if key not in KNOWN_ARGS:
            raise Err(f"unknown argument {key}={value!r}: the only argument is namespace=NAME")
        if not value:
            raise Err("invalid argument namespace='': expected a namespace name")
        namespace = value
    return namespace


def list_deployments(cluster: str, namespace: str | None) -> tuple[list[dict], float]:
    """List deployments with a typed list call, following `continue` tokens.

    Returns the deployments and the milliseconds the whole list took. That
    time is also recorded with `stats.record-request`, as failed when a page
    fails.
    """
    started = time.monotonic()
    deployments: list[dict] = []
    continue_token = None
    succeeded = False
    try:
        while True:
            options = kube_client.ListOptions(
                namespace=namespace,
                label_selector=None,
                field_selector=None,
                limit=PAGE_SIZE,
                continue_token=continue_token,
            )
            page = json.loads(kube_client.list(cluster, "deployments.apps", options))
            deployments.extend(page.get("items") or [])
            continue_token = (page.get("metadata") or {}).get("continue")
            if not continue_token:
                break
        succeeded = True
    finally:
        elapsed_ms = (time.monotonic() - started) * 1000.0
        stats.record_request(cluster, LIST_VERB, elapsed_ms, succeeded)
    return deployments, elapsed_ms


def lists_recorded(cluster: str) -> int:
    """Return how many lists of this cluster the host stores from `record_request`.

    The host keeps them from its start, so a daemon's count grows with each
    run, and one `lazyhost run` counts 1.
    """
    for latency in stats.recorded():
        if latency.cluster == cluster and latency.verb == LIST_VERB:
            return latency.count
    return 0


def desired_replicas(deployment: dict) -> int:
    """Return `spec.replicas`, which the API server defaults to 1 when unset."""
    replicas = (deployment.get("spec") or {}).get("replicas")
    return 1 if replicas is None else replicas


def status_count(deployment: dict, field: str) -> int:
    """Return a replica count of the status, which omits counts of zero."""
    return (deployment.get("status") or {}).get(field) or 0


def is_lagging(deployment: dict) -> bool:
    return status_count(deployment, "availableReplicas") < desired_replicas(deployment)


def conditions(deployment: dict) -> dict[str, dict]:
    """Return the deployment's conditions by type, such as `Progressing`."""
    found = {}
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        found[condition.get("type")] = {
            "status": condition.get("status"),
            "reason": condition.get("reason"),
            "message": condition.get("message"),
        }
    return found


def lag_reason(by_type: dict[str, dict]) -> tuple[str, str]:
    """Pick the condition that explains the lag and return its reason and message.

    A Progressing or Available condition whose status is not True explains
    it, Progressing first, because its reason (such as
    `ProgressDeadlineExceeded`) is the more specific. When both are True,
    the rollout is still going, and the Progressing reason describes it.
    """
    for kind in ("Progressing", "Available"):
        condition = by_type.get(kind)
        if condition and condition["status"] != "True":
            return condition["reason"] or "", condition["message"] or ""
    condition = by_type.get("Progressing") or by_type.get("Available")
    if condition:
        return condition["reason"] or "", condition["message"] or ""
    return "Unknown", "the deployment reports no Progressing or Available condition"


def age_seconds(deployment: dict, now: datetime) -> int | None:
    """Return whole seconds since `metadata.creationTimestamp`, or None without one."""
    created = (deployment.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return None
    # componentize-py 0.25 bundles CPython 3.14, whose fromisoformat reads
    # the trailing `Z` of Kubernetes timestamps.
    created_at = datetime.fromisoformat(created)
    return int((now - created_at).total_seconds())


def format_age(seconds: int | None) -> str:
    """Format an age the way kubectl's AGE column does for whole units: 10d, 5h, 3m, 40s."""
    if seconds is None:
        return "<unknown>"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def lagging_entry(deployment: dict, now: datetime) -> dict:
    metadata = deployment.get("metadata") or {}
    by_type = conditions(deployment)
    reason, message = lag_reason(by_type)
    age = age_seconds(deployment, now)
    return {
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "desired": desired_replicas(deployment),
        "available": status_count(deployment, "availableReplicas"),
        "updated": status_count(deployment, "updatedReplicas"),
        "age_seconds": age,
        "age": format_age(age),
        "reason": reason,
        "message": message,
        "conditions": by_type,
    }


def summary_line(cluster: str, version: str, checked: int, lagging: list[dict]) -> str:
    """Return the one human line printed per cluster."""
    line = f"{cluster} ({version}): {checked} deployments, {len(lagging)} lagging"
    if lagging:
        shown = ", ".join(
            f"{entry['namespace']}/{entry['name']} {entry['available']}/{entry['desired']} "
            f"({entry['reason']})"
            for entry in lagging[:MAX_NAMED_IN_LINE]
        )
        line += f": {shown}"
    if len(lagging) > MAX_NAMED_IN_LINE:
        line += f" and {len(lagging) - MAX_NAMED_IN_LINE} more"
    return line


def describe(error: types.Error) -> str:
    """Format a host error for the run's error message, led by its case name."""
    # The binding classes are named Error_NotFound and so on, and each WIT
    # case name is the kebab-case form of the part after `Error_`.
    case = type(error).__name__.removeprefix("Error_")
    kebab = "".join("-" + c.lower() if c.isupper() else c for c in case).lstrip("-")
    return f"{kebab}: {error.value}"
