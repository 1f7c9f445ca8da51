// {{name}}: a lazyhost plugin written in JavaScript.
//
// build.sh adds the WIT package version from its wit/ folder to
// the host imports below before componentize-js builds the component.

import { serverVersion } from 'lazyhost:plugin/client';
import { list } from 'lazyhost:plugin/kube-client';
import { recordRequest } from 'lazyhost:plugin/stats';

/** The error `run` returns: componentize-js passes on a thrown value's `payload`. */
class RunError extends Error {
  constructor(message) {
    super(message);
    this.payload = message;
  }
}

/** Formats a host error, a variant `{ tag, val }`, as `tag: message`. */
function describeError(error) {
  const payload = error?.payload;
  return payload?.tag ? `${payload.tag}: ${payload.val}` : String(error);
}

/** Counts the pods of `cluster` in every namespace. */
export function run(cluster, args) {
  const started = performance.now();
  let version;
  let pods;
  try {
    version = serverVersion(cluster);
    pods = JSON.parse(list(cluster, 'pods', {}));
  } catch (error) {
    throw new RunError(describeError(error));
  }
  recordRequest(cluster, '{{name}}-list', performance.now() - started, true);

  const count = pods.items.length;
  console.log(`${cluster} (${version.gitVersion}): ${count} pods`);
  return JSON.stringify({ cluster, pods: count });
}
