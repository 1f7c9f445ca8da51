// label-policy: finds namespaces and workloads that lack required labels,
// and adds the missing labels with `--arg mode=fix`.
//
// The host interfaces are imported without their WIT package version:
// build.sh reads the version from the repository's wit/ folder and adds it
// to these specifiers before componentize-js builds the component.

import { apiResources, serverVersion } from 'lazyhost:plugin/client';
import { list, patch } from 'lazyhost:plugin/kube-client';
import { recordRequest } from 'lazyhost:plugin/stats';

import {
  ArgumentError,
  KIND_NAMES,
  checkLabels,
  describeError,
  errorTag,
  labelPatch,
  labelsToAdd,
  parseOptions,
  patchOutcome,
} from './policy.js';

/** Items requested per list page. */
const PAGE_SIZE = 500;

/** Workload resource types, all in the API group `apps`. */
const WORKLOAD_GROUP = 'apps';

/** The error `run` returns: its message becomes the cluster's error. */
class RunError extends Error {
  constructor(message) {
    super(message);
    // componentize-js returns a thrown value's `payload` as the `err` case.
    this.payload = message;
  }
}

/** Checks one cluster and, in fix mode, patches what lacks labels. */
export function run(cluster, args) {
  let options;
  try {
    options = parseOptions(args);
  } catch (error) {
    if (error instanceof ArgumentError) {
      throw new RunError(error.message);
    }
    throw error;
  }

  const started = performance.now();
  const version = call(() => serverVersion(cluster), 'reading the server version');
  const { served, notServed } = servedKinds(cluster, options.kinds);
  const scan = scanCluster(cluster, served, options);
  recordRequest(cluster, 'label-policy-scan', performance.now() - started, true);

  if (options.mode === 'fix') {
    const patchStarted = performance.now();
    for (const violation of scan.violations) {
      fixViolation(cluster, violation, options);
    }
    const allFixed = scan.violations.every((violation) => violation.fix?.status !== 'failed');
    recordRequest(cluster, 'label-policy-fix', performance.now() - patchStarted, allFixed);
  }

  const result = {
    cluster,
    server_version: version.gitVersion,
    mode: options.mode,
    required: options.required,
    checked: scan.checked,
    not_served: notServed,
    skipped: scan.skipped,
    violations: scan.violations.map(({ listedVersion, ...violation }) => violation),
    summary: summarize(scan),
  };
  console.log(humanLine(result));
  return JSON.stringify(result);
}

/** Runs a host call whose failure ends the invocation, naming the failed `action`. */
function call(hostCall, action) {
  try {
    return hostCall();
  } catch (error) {
    throw new RunError(`${action} failed: ${describeError(error)}`);
  }
}

/**
 * Splits the requested kinds into those the cluster serves and those it
 * does not, from its discovery. Namespaces are always served.
 */
function servedKinds(cluster, kinds) {
  const resources = call(() => apiResources(cluster), 'reading the API resources');
  const workloads = new Set(
    resources.filter((resource) => resource.group === WORKLOAD_GROUP).map((resource) => resource.name),
  );
  const served = kinds.filter((kind) => kind === 'namespaces' || workloads.has(kind));
  const notServed = kinds.filter((kind) => !served.includes(kind));
  return { served, notServed };
}

/** Lists every object of the served kinds and collects those lacking labels. */
function scanCluster(cluster, kinds, options) {
  const excluded = new Set(options.excludedNamespaces);
  const checked = {};
  const skipped = [];
  const violations = [];
  let namespaces = null;

  for (const kind of kinds) {
    let objects;
    if (kind === 'namespaces') {
      namespaces = listAll(cluster, kind, undefined);
      objects = namespaces;
    } else {
      namespaces ??= listAll(cluster, 'namespaces', undefined);
      objects = listWorkloads(cluster, kind, namespaces, skipped);
    }

    objects = objects.filter((object) => !excluded.has(namespaceOf(kind, object)));
    checked[kind] = objects.length;
    for (const object of objects) {
      const { missing, mismatched } = checkLabels(object.metadata?.labels, options.required);
      if (missing.length === 0 && mismatched.length === 0) {
        continue;
      }
      violations.push({
        kind: KIND_NAMES[kind],
        resource: kind,
        namespace: kind === 'namespaces' ? null : object.metadata.namespace,
        name: object.metadata.name,
        missing,
        mismatched,
        listedVersion: object.metadata.resourceVersion,
      });
    }
  }
  return { checked, skipped, violations };
}

function namespaceOf(kind, object) {
  return kind === 'namespaces' ? object.metadata.name : object.metadata.namespace;
}

/**
 * Lists a workload kind in every namespace. When the policy denies the
 * all-namespaces list (under `--allow-namespace`), lists namespace by
 * namespace and records each denied namespace in `skipped`.
 */
function listWorkloads(cluster, kind, namespaces, skipped) {
  try {
    return listPages(cluster, kind, undefined);
  } catch (error) {
    if (errorTag(error) !== 'denied') {
      throw new RunError(`listing ${kind} failed: ${describeError(error)}`);
    }
  }
  const objects = [];
  for (const namespace of namespaces) {
    const name = namespace.metadata.name;
    try {
      objects.push(...listPages(cluster, kind, name));
    } catch (error) {
      if (errorTag(error) !== 'denied') {
        throw new RunError(`listing ${kind} in ${name} failed: ${describeError(error)}`);
      }
      skipped.push({ resource: kind, namespace: name, error: describeError(error) });
    }
  }
  return objects;
}

function listAll(cluster, kind, namespace) {
  try {
    return listPages(cluster, kind, namespace);
  } catch (error) {
    throw new RunError(`listing ${kind} failed: ${describeError(error)}`);
  }
}

/** Lists objects page by page, following `metadata.continue`. */
function listPages(cluster, kind, namespace) {
  const items = [];
  let continueToken;
  do {
    const page = JSON.parse(list(cluster, kind, { namespace, limit: PAGE_SIZE, continueToken }));
    items.push(...(page.items ?? []));
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken !== undefined);
  return items;
}

/**
 * Adds the missing labels of one object with a merge patch and stores the
 * outcome in `violation.fix`. A failed patch, `denied` included, is
 * recorded on the object and the run goes on.
 */
function fixViolation(cluster, violation, options) {
  if (violation.missing.length === 0) {
    return;
  }
  const labels = labelsToAdd(violation.missing, options);
  const namespace = violation.namespace ?? undefined;
  let returned;
  try {
    returned = JSON.parse(patch(cluster, violation.resource, namespace, violation.name, labelPatch(labels)));
  } catch (error) {
    const status = errorTag(error) === 'denied' ? 'denied' : 'failed';
    violation.fix = { status, labels, error: describeError(error) };
    return;
  }
  violation.fix = { labels, ...patchOutcome(violation.listedVersion, returned, labels) };
}

function summarize(scan) {
  const summary = {
    objects: Object.values(scan.checked).reduce((sum, count) => sum + count, 0),
    violations: scan.violations.length,
    missing_labels: 0,
    mismatched_labels: 0,
  };
  for (const violation of scan.violations) {
    summary.missing_labels += violation.missing.length;
    summary.mismatched_labels += violation.mismatched.length;
    if (violation.fix) {
      summary[violation.fix.status] = (summary[violation.fix.status] ?? 0) + 1;
    }
  }
  return summary;
}

/** Formats the cluster's one line for people, such as `sim-1 (v1.32.4): ...`. */
function humanLine(result) {
  const { summary } = result;
  const keys = result.required.map(({ key, value }) => (value === null ? key : `${key}=${value}`));
  let line = `${result.cluster} (${result.server_version}): ${summary.violations} of ${summary.objects} objects break the label policy (${keys.join(', ')})`;

  const byKind = {};
  for (const violation of result.violations) {
    byKind[violation.resource] = (byKind[violation.resource] ?? 0) + 1;
  }
  const kinds = Object.entries(byKind).map(([kind, count]) => `${count} ${kind}`);
  if (kinds.length > 0) {
    line += `: ${kinds.join(', ')}`;
  }

  if (result.mode === 'fix') {
    const outcomes = ['applied', 'dry-run', 'denied', 'failed']
      .filter((status) => summary[status] > 0)
      .map((status) => `${summary[status]} ${status}`);
    line += `; fix: ${outcomes.length > 0 ? outcomes.join(', ') : 'nothing to add'}`;
    const firstError = result.violations.find((violation) => violation.fix?.error)?.fix.error;
    if (firstError) {
      line += ` (first error: ${firstError})`;
    }
  }
  if (result.not_served.length > 0) {
    line += `; not served: ${result.not_served.join(', ')}`;
  }
  if (result.skipped.length > 0) {
    line += `; ${result.skipped.length} namespace lists denied`;
  }
  return line;
}
