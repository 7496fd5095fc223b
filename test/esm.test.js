'use strict';

const assert = require('assert');

describe('ESM entry points', () => {
  it('import gives the same classes as require', async () => {
    const esm = await import('native-workers');
    const cjs = require('..');
    assert.strictEqual(esm.RingBuffer, cjs.RingBuffer);
    assert.strictEqual(esm.default, cjs);
  });
});
