'use strict';

const assert = require('assert');
const { RingBuffer } = require('..');

describe('RingBuffer basics', () => {
  it('round-trips every data type it accepts', () => {
    const rb = new RingBuffer(4096);
    assert.strictEqual(rb.tryWrite('héllo'), true);
    assert.strictEqual(rb.tryWrite(Buffer.from('buf')), true);
    assert.strictEqual(rb.tryWrite(new Uint16Array([1, 2])), true);
    assert.strictEqual(rb.tryWrite(new DataView(new ArrayBuffer(3))), true);
    assert.strictEqual(rb.tryWrite(new Uint8Array([9, 8]).buffer), true);
    assert.strictEqual(rb.tryWrite(''), true);
    assert.strictEqual(rb.tryRead().toString(), 'héllo');
    assert.strictEqual(rb.tryRead().toString(), 'buf');
    assert.deepStrictEqual([...rb.tryRead()], [1, 0, 2, 0]);
    assert.deepStrictEqual([...rb.tryRead()], [0, 0, 0]);
    assert.deepStrictEqual([...rb.tryRead()], [9, 8]);
    assert.strictEqual(rb.tryRead().length, 0);
    assert.strictEqual(rb.tryRead(), null);
  });

  it('rounds the capacity up to a power of two', () => {
    assert.strictEqual(new RingBuffer(1000).capacity, 1024);
    assert.strictEqual(new RingBuffer(1).capacity, 8);
    assert.strictEqual(new RingBuffer(4096).maxMessageSize, 4092);
  });
});
