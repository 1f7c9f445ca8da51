// Arguments and label checks of the label-policy plugin. This module imports
// nothing from the host, so `node --test` can run its tests directly.

/** Resource types the plugin can check, in the order it checks them. */
export const KINDS = ['namespaces', 'deployments', 'statefulsets', 'daemonsets'];

/** Kubernetes kind of each resource type, for the report. */
export const KIND_NAMES = {
  namespaces: 'Namespace',
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
};

const KNOWN_ARGUMENTS = 'labels, mode, default.KEY, kinds and exclude-namespaces';

// A label name, and a label value when not empty: at most 63 characters,
// alphanumeric at both ends, with `-`, `_` and `.` between.
const NAME_PATTERN = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// The optional prefix of a label key: a DNS subdomain of at most 253 characters.
const PREFIX_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** An invalid `--arg`, reported as the run's error. */
export class ArgumentError extends Error {}

/**
 * Parses the `--arg` pairs into options.
 *
 * Returns `{ mode, required, defaults, kinds, excludedNamespaces }`, where
 * `required` is a list of `{ key, value }` (`value` is null when any value
 * is accepted) and `defaults` maps a key to the value fix mode adds.
 * Throws `ArgumentError` naming the argument and the fix.
 */
export function parseOptions(args) {
  const seen = new Set();
  let labels = null;
  let mode = 'report';
  let kinds = KINDS;
  let excludedNamespaces = [];
  const defaults = new Map();

  for (const [key, value] of args) {
    if (seen.has(key)) {
      throw new ArgumentError(`argument ${key} is given twice: give it once`);
    }
    seen.add(key);
    if (key === 'labels') {
      labels = value;
    } else if (key === 'mode') {
      if (value !== 'report' && value !== 'fix') {
        throw new ArgumentError(`invalid argument mode=${value}: use report or fix`);
      }
      mode = value;
    } else if (key === 'kinds') {
      kinds = parseKinds(value);
    } else if (key === 'exclude-namespaces') {
      excludedNamespaces = splitList(value);
    } else if (key.startsWith('default.')) {
      const label = key.slice('default.'.length);
      checkKey(label, key);
      checkValue(value, key);
      defaults.set(label, value);
    } else {
      throw new ArgumentError(`unknown argument ${key}: use ${KNOWN_ARGUMENTS}`);
    }
  }

  if (labels === null) {
    throw new ArgumentError(
      'missing argument labels: name the required label keys, such as --arg labels=team,owner',
    );
  }
  const required = parseRequired(labels);
  checkDefaults(required, defaults, mode);
  return { mode, required, defaults, kinds, excludedNamespaces };
}

/** Parses `team,owner=platform` into `[{key: 'team', value: null}, {key: 'owner', value: 'platform'}]`. */
export function parseRequired(text) {
  const required = [];
  for (const item of splitList(text)) {
    const separator = item.indexOf('=');
    const key = separator < 0 ? item : item.slice(0, separator);
    const value = separator < 0 ? null : item.slice(separator + 1);
    checkKey(key, 'labels');
    if (value !== null) {
      checkValue(value, 'labels');
    }
    if (required.some((label) => label.key === key)) {
      throw new ArgumentError(`invalid argument labels: the key ${key} is listed twice`);
    }
    required.push({ key, value });
  }
  if (required.length === 0) {
    throw new ArgumentError(
      'invalid argument labels: it names no label; give keys such as labels=team,owner',
    );
  }
  return required;
}

// Checks that every default names a required key and agrees with its
// required value, and that fix mode has a value for every required key.
function checkDefaults(required, defaults, mode) {
  for (const [key, value] of defaults) {
    const label = required.find((candidate) => candidate.key === key);
    if (label === undefined) {
      throw new ArgumentError(
        `invalid argument default.${key}: ${key} is not in labels; add it to labels or drop the default`,
      );
    }
    if (label.value !== null && label.value !== value) {
      throw new ArgumentError(
        `invalid argument default.${key}=${value}: labels requires ${key}=${label.value}`,
      );
    }
  }
  if (mode !== 'fix') {
    return;
  }
  const withoutValue = required.filter(
    (label) => label.value === null && !defaults.has(label.key),
  );
  if (withoutValue.length > 0) {
    const hints = withoutValue.map((label) => `--arg default.${label.key}=VALUE`).join(' ');
    throw new ArgumentError(
      `mode=fix needs the value to add for every required label without one: give ${hints}`,
    );
  }
}

function parseKinds(text) {
  const kinds = splitList(text);
  for (const kind of kinds) {
    if (!KINDS.includes(kind)) {
      throw new ArgumentError(`invalid argument kinds: unknown kind ${kind}; use ${KINDS.join(', ')}`);
    }
  }
  if (kinds.length === 0) {
    throw new ArgumentError(`invalid argument kinds: it names no kind; use ${KINDS.join(', ')}`);
  }
  return KINDS.filter((kind) => kinds.includes(kind));
}

function splitList(text) {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function checkKey(key, argument) {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? null : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefixValid = prefix === null || (prefix.length <= 253 && PREFIX_PATTERN.test(prefix));
  if (!prefixValid || !NAME_PATTERN.test(name)) {
    throw new ArgumentError(
      `invalid argument ${argument}: ${JSON.stringify(key)} is not a valid label key ` +
        '(an optional DNS subdomain and /, then at most 63 letters, digits, -, _ or .)',
    );
  }
}

function checkValue(value, argument) {
  if (value !== '' && !NAME_PATTERN.test(value)) {
    throw new ArgumentError(
      `invalid argument ${argument}: ${JSON.stringify(value)} is not a valid label value ` +
        '(at most 63 letters, digits, -, _ or ., alphanumeric at both ends)',
    );
  }
}

/**
 * Compares an object's labels with the required ones.
 *
 * Returns `{ missing, mismatched }`: the keys the object lacks, and the
 * required labels it has with another value, as `{ key, expected, actual }`.
 */
export function checkLabels(labels, required) {
  const present = labels ?? {};
  const missing = [];
  const mismatched = [];
  for (const { key, value } of required) {
    if (!Object.hasOwn(present, key)) {
      missing.push(key);
    } else if (value !== null && present[key] !== value) {
      mismatched.push({ key, expected: value, actual: present[key] });
    }
  }
  return { missing, mismatched };
}

/** Returns the labels fix mode adds for the `missing` keys. */
export function labelsToAdd(missing, options) {
  const labels = {};
  for (const key of missing) {
    const label = options.required.find((candidate) => candidate.key === key);
    labels[key] = label.value ?? options.defaults.get(key);
  }
  return labels;
}

/** Builds the JSON merge patch (RFC 7386) that adds `labels` and nothing else. */
export function labelPatch(labels) {
  return JSON.stringify({ metadata: { labels } });
}

/**
 * Tells from the object a patch returned whether the change was stored.
 *
 * The API server gives a stored change a new `resourceVersion`, while a
 * server-side dry run (`dryRun=All`) returns the would-be object with the
 * version it read. Returns `applied`, `dry-run`, or `failed` when the
 * returned object lacks a label that was sent.
 */
export function patchOutcome(listedVersion, returned, labels) {
  const returnedLabels = returned?.metadata?.labels ?? {};
  const absent = Object.keys(labels).filter((key) => returnedLabels[key] !== labels[key]);
  if (absent.length > 0) {
    return {
      status: 'failed',
      error: `the server accepted the patch but returned the object without ${absent.join(', ')}`,
    };
  }
  const version = returned?.metadata?.resourceVersion;
  return { status: version === listedVersion ? 'dry-run' : 'applied' };
}

/** Formats a host error, a variant `{ tag, val }`, as `tag: message`. */
export function describeError(error) {
  const payload = error?.payload;
  if (payload && typeof payload.tag === 'string') {
    return `${payload.tag}: ${payload.val}`;
  }
  return String(error);
}

/** Returns the case of a host error, such as `denied` or `not-found`, or null. */
export function errorTag(error) {
  const tag = error?.payload?.tag;
  return typeof tag === 'string' ? tag : null;
}
