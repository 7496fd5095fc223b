'use strict';

const assert = require('assert');

// Every entry point: `import` gives exactly the names `require` gives, the
// same values, and the CommonJS object as its default export.
const ENTRIES = [
  ['native-workers', '..'],
  ['native-workers/worker_threads', '../lib/worker_threads'],
  ['native-workers/child_process', '../lib/child_process'],
  ['native-workers/pool', '../lib/pool'],
  ['native-workers/remote', '../lib/remote'],
];

describe('ESM entry points', () => {
  for (const [spec, path] of ENTRIES) {
    it(`${spec}: the same names and values as require()`, async () => {
      const esm = await import(spec);
      const cjs = require(path);
      assert.deepStrictEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), Object.keys(cjs).sort());
      for (const k of Object.keys(cjs)) assert.strictEqual(esm[k], cjs[k], k);
      assert.strictEqual(esm.default, cjs);
    });
  }

  // The cluster module is an EventEmitter whose settings are replaced as
  // the program runs: its named exports are the names that stay put.
  it('native-workers/cluster: the module as default, its stable names as named exports', async () => {
    const esm = await import('native-workers/cluster');
    const cjs = require('../lib/cluster');
    assert.strictEqual(esm.default, cjs);
    for (const k of ['isPrimary', 'isMaster', 'isWorker', 'Worker', 'workers', 'SCHED_NONE', 'SCHED_RR',
      'setupPrimary', 'setupMaster', 'fork', 'disconnect']) {
      assert.strictEqual(esm[k], cjs[k], k);
    }
  });

  it('package.json exports every entry it names', () => {
    const pkg = require('../package.json');
    const named = Object.keys(pkg.exports).filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? 'native-workers' : `native-workers/${k.slice(2)}`));
    assert.deepStrictEqual(named.sort(), [...ENTRIES.map((e) => e[0]), 'native-workers/cluster'].sort());
  });
});
