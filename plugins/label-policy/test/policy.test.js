// Unit tests of the argument parsing and label checks: `npm test` in this folder.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ArgumentError,
  KINDS,
  checkLabels,
  labelPatch,
  labelsToAdd,
  parseOptions,
  patchOutcome,
} from '../src/policy.js';

test('labels with and without values', () => {
  const options = parseOptions([['labels', 'team, owner=platform,example.com/tier']]);
  assert.equal(options.mode, 'report');
  assert.deepEqual(options.required, [
    { key: 'team', value: null },
    { key: 'owner', value: 'platform' },
    { key: 'example.com/tier', value: null },
  ]);
  assert.deepEqual(options.kinds, KINDS);
});

test('missing labels argument is rejected', () => {
  assert.throws(() => parseOptions([]), /missing argument labels/);
  assert.throws(() => parseOptions([['labels', ' , ']]), /names no label/);
});

test('invalid keys and values are rejected', () => {
  assert.throws(() => parseOptions([['labels', '-team']]), ArgumentError);
  assert.throws(() => parseOptions([['labels', 'Bad_Prefix/team']]), /not a valid label key/);
  assert.throws(() => parseOptions([['labels', `team=${'x'.repeat(64)}`]]), /not a valid label value/);
  assert.throws(() => parseOptions([['labels', 'team,team=a']]), /listed twice/);
});

test('unknown and repeated arguments are rejected', () => {
  assert.throws(() => parseOptions([['labels', 'team'], ['label', 'x']]), /unknown argument label/);
  assert.throws(() => parseOptions([['labels', 'team'], ['labels', 'x']]), /given twice/);
  assert.throws(() => parseOptions([['labels', 'team'], ['mode', 'apply']]), /use report or fix/);
  assert.throws(() => parseOptions([['labels', 'team'], ['kinds', 'pods']]), /unknown kind pods/);
});

test('fix mode needs a value for every key', () => {
  assert.throws(
    () => parseOptions([['labels', 'team,owner=platform'], ['mode', 'fix']]),
    /--arg default\.team=VALUE/,
  );
  const options = parseOptions([
    ['labels', 'team,owner=platform'],
    ['mode', 'fix'],
    ['default.team', 'unassigned'],
  ]);
  assert.deepEqual(labelsToAdd(['team', 'owner'], options), { team: 'unassigned', owner: 'platform' });
});

test('defaults must match labels', () => {
  assert.throws(
    () => parseOptions([['labels', 'team'], ['default.owner', 'x']]),
    /owner is not in labels/,
  );
  assert.throws(
    () => parseOptions([['labels', 'owner=platform'], ['default.owner', 'x']]),
    /labels requires owner=platform/,
  );
});

test('kinds keep the check order', () => {
  const options = parseOptions([['labels', 'team'], ['kinds', 'daemonsets,namespaces']]);
  assert.deepEqual(options.kinds, ['namespaces', 'daemonsets']);
});

test('label check finds missing and mismatched', () => {
  const required = [
    { key: 'team', value: null },
    { key: 'owner', value: 'platform' },
    { key: 'app', value: null },
  ];
  assert.deepEqual(checkLabels({ app: 'web', owner: 'shop' }, required), {
    missing: ['team'],
    mismatched: [{ key: 'owner', expected: 'platform', actual: 'shop' }],
  });
  assert.deepEqual(checkLabels(undefined, required).missing, ['team', 'owner', 'app']);
});

test('patch adds labels only', () => {
  assert.equal(labelPatch({ team: 'a' }), '{"metadata":{"labels":{"team":"a"}}}');
});

test('patch outcome tells dry runs apart', () => {
  const returned = (version, labels) => ({ metadata: { resourceVersion: version, labels } });
  assert.deepEqual(patchOutcome('7', returned('9', { team: 'a' }), { team: 'a' }), { status: 'applied' });
  assert.deepEqual(patchOutcome('7', returned('7', { team: 'a' }), { team: 'a' }), { status: 'dry-run' });
  assert.equal(patchOutcome('7', returned('9', {}), { team: 'a' }).status, 'failed');
});
