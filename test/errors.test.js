'use strict';

const assert = require('assert');

describe('errors print as Node\'s', () => {
  it('String(err) and the first line of err.stack carry the code; own properties as Node\'s', () => {
    const nodeCp = require('child_process');
    const ours = require('../lib/child_process');
    const { RingBuffer } = require('..');
    const cases = [
      [() => nodeCp.spawn('x', { timeout: -1 }), () => ours.spawn('x', { timeout: -1 })],
      [() => nodeCp.spawn(5), () => ours.spawn(5)],
      [() => nodeCp.fork('x', { serialization: 'bad' }), () => ours.fork('x', { serialization: 'bad' })],
    ];
    const seen = (f) => {
      try { f(); } catch (e) {
        return { str: String(e), head: e.stack.split('\n')[0], name: e.name, ctor: e.constructor.name,
          keys: Object.keys(e), own: Object.getOwnPropertyNames(e).sort(), proto: e instanceof Error };
      }
      return null;
    };
    for (const [theirs, mine] of cases) assert.deepStrictEqual(seen(mine), seen(theirs));
    const e = seen(() => new RingBuffer(0));
    assert.match(e.str, /^RangeError \[ERR_OUT_OF_RANGE\]: /);
    assert.strictEqual(e.head, e.str);
    assert.throws(() => new RingBuffer('x'), /ERR_INVALID_ARG_TYPE/);
  });
});
