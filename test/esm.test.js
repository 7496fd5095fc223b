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

  it('package.json exports every entry it names', () => {
    const pkg = require('../package.json');
    const named = Object.keys(pkg.exports).filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? 'native-workers' : `native-workers/${k.slice(2)}`));
    assert.deepStrictEqual(named.sort(), ENTRIES.map((e) => e[0]).sort());
  });
});
