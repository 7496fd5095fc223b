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

describe('RingBuffer reads into caller memory', () => {
  it('tryReadInto copies each message to the offset and returns its length', () => {
    const rb = new RingBuffer(256);
    const into = Buffer.alloc(16, 0xee);
    assert.strictEqual(rb.tryReadInto(into), -1);
    rb.tryWrite('abc');
    rb.tryWrite(Buffer.alloc(0));
    rb.tryWrite(new Uint8Array([1, 2, 3, 4, 5]));
    assert.strictEqual(rb.tryReadInto(into, 2), 3);
    assert.deepStrictEqual([...into.subarray(0, 6)], [0xee, 0xee, 0x61, 0x62, 0x63, 0xee]);
    assert.strictEqual(rb.tryReadInto(into), 0);
    const u16 = new Uint16Array(4);
    assert.strictEqual(rb.tryReadInto(u16), 5);
    assert.deepStrictEqual([...new Uint8Array(u16.buffer)], [1, 2, 3, 4, 5, 0, 0, 0]);
    assert.strictEqual(rb.tryReadInto(into), -1);
  });

  it('keeps every byte across the wrap point, into every kind of buffer', () => {
    const rb = new RingBuffer(1024);
    const targets = [Buffer.alloc(700), new Uint8Array(700), new DataView(new ArrayBuffer(700)),
      new ArrayBuffer(700), new SharedArrayBuffer(700)];
    for (let i = 0; i < 200; i++) {
      const len = (i * 37) % 690;
      const msg = Buffer.alloc(len, i & 0xff);
      assert.strictEqual(rb.tryWrite(msg), true);
      const t = targets[i % targets.length];
      assert.strictEqual(rb.tryReadInto(t, 3), len);
      const bytes = ArrayBuffer.isView(t) ? Buffer.from(t.buffer, t.byteOffset, t.byteLength) : Buffer.from(t);
      assert.ok(bytes.subarray(3, 3 + len).equals(msg), `message ${i}`);
    }
  });

  it('a message larger than the room stays in the ring', () => {
    const rb = new RingBuffer(64);
    rb.tryWrite('0123456789');
    assert.throws(() => rb.tryReadInto(Buffer.alloc(12), 4), { code: 'ERR_OUT_OF_RANGE' });
    assert.strictEqual(rb.tryRead().toString(), '0123456789');
  });

  it('readInto waits like read(), with a timeout and an offset', () => {
    const rb = new RingBuffer(64);
    const into = Buffer.alloc(8);
    assert.strictEqual(rb.readInto(into, { timeout: 5 }), -1);
    rb.tryWrite('hi');
    assert.strictEqual(rb.readInto(into, { offset: 1, timeout: 5 }), 2);
    assert.strictEqual(into.toString('latin1', 1, 3), 'hi');
    rb.close();
    assert.strictEqual(rb.readInto(into), -1);
  });

  it('bad buffers and offsets get Node\'s codes, and nothing is consumed', () => {
    const rb = new RingBuffer(64);
    rb.tryWrite('x');
    for (const bad of [undefined, null, 'str', 5, {}, [1, 2]]) {
      assert.throws(() => rb.tryReadInto(bad), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    assert.throws(() => rb.tryReadInto(Buffer.alloc(4), '1'), { code: 'ERR_INVALID_ARG_TYPE' });
    for (const bad of [-1, 1.5, 5, NaN]) {
      assert.throws(() => rb.tryReadInto(Buffer.alloc(4), bad), { code: 'ERR_OUT_OF_RANGE' });
    }
    assert.throws(() => rb.readInto(Buffer.alloc(4), { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => rb.readInto(Buffer.alloc(4), 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
    const multi = new RingBuffer(64, { consumers: 'multi' });
    multi.tryWrite('y');
    assert.throws(() => multi.tryReadInto(Buffer.alloc(8)), { code: 'ERR_OUT_OF_RANGE' });
    assert.strictEqual(multi.tryReadInto(Buffer.alloc(multi.maxMessageSize)), 1);
    assert.strictEqual(rb.tryRead().toString(), 'x');
  });
});

describe('RingBuffer positions past 2^31 and 2^32', () => {
  const binding = require('../lib/internal/binding');
  const W = binding.RING_WORDS;
  // A fresh ring whose (equal) positions start at `start`, as if that many
  // bytes had gone through it.
  function ringAt(start, options) {
    const made = new RingBuffer(1024, options);
    const base = binding.ringAttach(new Uint8Array(made.buffer)) >> 2;
    const i32 = new Int32Array(made.buffer);
    for (const w of [W.prodHead, W.prodTail, W.consHead, W.consTail]) i32[base + w] = start | 0;
    return { rb: RingBuffer.from(made.buffer), i32, base };
  }
  for (const options of [{}, { producers: 'multi', consumers: 'multi' }]) {
    for (const start of [0x7fffff00, 0xffffff00]) {
      it(`keeps working across position 0x${((start + 0x100) >>> 0).toString(16)} (${JSON.stringify(options)})`, () => {
        const { rb, i32, base } = ringAt(start, options);
        const into = Buffer.alloc(rb.maxMessageSize);
        for (let i = 0; i < 200; i++) {
          assert.strictEqual(rb.tryWrite(Buffer.alloc(1 + (i % 50), i)), true, `write ${i}`);
          assert.strictEqual(rb.tryWrite('x'.repeat(i % 7)), true);
          const m = rb.tryRead();
          assert.strictEqual(m.length, 1 + (i % 50));
          assert.ok(m.every((b) => b === (i & 0xff)), `message ${i}`);
          assert.strictEqual(rb.tryReadInto(into), i % 7);
        }
        assert.strictEqual(rb.tryRead(), null);
        assert.ok(((i32[base + W.prodTail] - start) >>> 0) > 0x100, 'the positions went past the boundary');
      });
    }
  }
});
