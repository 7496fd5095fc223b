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

describe('RingBuffer message sizes', () => {
  it('keeps every byte of messages from 0 to 40 KiB across the wrap point', () => {
    const rb = new RingBuffer(64 * 1024);
    let seed = 12345;
    const next = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed; };
    for (let i = 0; i < 400; i++) {
      const len = i % 7 === 0 ? next() % 40960 : next() % 700;
      const msg = Buffer.allocUnsafe(len);
      for (let j = 0; j < len; j++) msg[j] = (j * 31 + i) & 0xff;
      assert.strictEqual(rb.tryWrite(msg), true);
      const got = rb.tryRead();
      assert.ok(got.equals(msg), `message ${i} of ${len} bytes differs`);
    }
  });

  it('writes strings that wrap around the end of the ring', () => {
    const rb = new RingBuffer(64);
    for (let i = 0; i < 50; i++) {
      const s = 'ü'.repeat(i % 25) + i;
      assert.strictEqual(rb.tryWrite(s), true);
      assert.strictEqual(rb.tryRead().toString(), s);
    }
  });
});
