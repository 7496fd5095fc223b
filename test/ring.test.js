'use strict';

const assert = require('assert');
const path = require('path');
const { Worker } = require('worker_threads');
const { RingBuffer } = require('..');
const { makeMessage, checkMessage } = require('./fixtures/ring-messages');

const PEER = path.join(__dirname, 'fixtures', 'ring-peer.js');
const STRESS = process.env.NW_STRESS === '1';

function startPeer(data) {
  const w = new Worker(PEER, { workerData: data });
  const result = new Promise((resolve, reject) => {
    w.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    w.once('error', reject);
  });
  return { worker: w, result };
}

// Each producer's sequence numbers arrive exactly once, and in order within
// each consumer.
function verify(results, producers, count) {
  const seen = new Map();
  for (const r of results) {
    assert.strictEqual(r.errors, 0, 'torn or corrupt messages');
    for (const [id, seqs] of Object.entries(r.got)) {
      for (let i = 1; i < seqs.length; i++) {
        assert.ok(seqs[i] > seqs[i - 1], `producer ${id} reordered`);
      }
      // concat, not push(...seqs): a soak run's 200k arguments overflow the stack.
      seen.set(Number(id), (seen.get(Number(id)) || []).concat(seqs));
    }
  }
  for (let id = 0; id < producers; id++) {
    const all = (seen.get(id) || []).sort((a, b) => a - b);
    assert.strictEqual(all.length, count, `producer ${id}: ${all.length} of ${count} arrived`);
    for (let i = 0; i < count; i++) assert.strictEqual(all[i], i, `producer ${id}: seq ${i} lost or duplicated`);
  }
}

async function runTopology({ producers, consumers, count, capacity, maxLen, seed, mode = 'blocking' }) {
  const rb = new RingBuffer(capacity, {
    producers: producers > 1 ? 'multi' : 'single',
    consumers: consumers > 1 ? 'multi' : 'single',
  });
  const cons = [];
  for (let i = 0; i < consumers; i++) {
    cons.push(startPeer({ role: 'consumer', buffer: rb.buffer, seed, maxLen, mode }));
  }
  const prods = [];
  for (let i = 0; i < producers; i++) {
    prods.push(startPeer({ role: 'producer', buffer: rb.buffer, id: i, count, seed, maxLen, mode }));
  }
  await Promise.all(prods.map((p) => p.result));
  rb.close();
  const results = await Promise.all(cons.map((c) => c.result));
  verify(results, producers, count);
}

describe('RingBuffer across threads', function () {
  this.timeout(STRESS ? 600000 : 120000);
  const n = STRESS ? 200000 : 5000;

  it('main -> worker, seeded lengths 0..4096', async () => {
    const seed = 1234;
    const rb = new RingBuffer(64 * 1024);
    const c = startPeer({ role: 'consumer', buffer: rb.buffer, seed, maxLen: 4096 });
    for (let seq = 0; seq < n; seq++) rb.write(makeMessage(0, seq, seed, 4096));
    rb.close();
    verify([await c.result], 1, n);
  });

  it('main -> worker, read into one buffer with readInto', async () => {
    const seed = 4321;
    const rb = new RingBuffer(16 * 1024);
    const c = startPeer({ role: 'consumer', buffer: rb.buffer, seed, maxLen: 4096, mode: 'into' });
    for (let seq = 0; seq < n; seq++) rb.write(makeMessage(0, seq, seed, 4096));
    rb.close();
    verify([await c.result], 1, n);
  });

  it('2 producers -> 2 consumers reading with readInto (multi/multi)', async () => {
    await runTopology({ producers: 2, consumers: 2, count: n, capacity: 8192, maxLen: 512, seed: 77, mode: 'into' });
  });

  it('worker -> main, read on the event loop with readAsync', async () => {
    const seed = 99;
    const rb = new RingBuffer(16 * 1024);
    const p = startPeer({ role: 'producer', buffer: rb.buffer, id: 0, count: n, seed, maxLen: 4096 });
    const got = { 0: [] };
    let errors = 0;
    let closer = null;
    p.result.then(() => { closer = setImmediate(() => rb.close()); });
    for await (const m of rb) {
      const r = checkMessage(m, seed, 4096);
      if (!r.ok) errors++; else got[0].push(r.seq);
    }
    clearImmediate(closer);
    verify([{ got, errors }], 1, n);
  });

  it('worker -> worker', async () => {
    await runTopology({ producers: 1, consumers: 1, count: n, capacity: 8192, maxLen: 4096, seed: 7 });
  });

  it('worker -> worker with async reads and writes', async () => {
    await runTopology({ producers: 1, consumers: 1, count: n, capacity: 8192, maxLen: 4096, seed: 8, mode: 'async' });
  });

  it('3 producers -> 2 consumers (multi/multi)', async () => {
    await runTopology({ producers: 3, consumers: 2, count: n, capacity: 16384, maxLen: 4096, seed: 21 });
  });

  it('2 producers -> 3 consumers, small ring, spinning tryWrite', async () => {
    await runTopology({ producers: 2, consumers: 3, count: n, capacity: 8192, maxLen: 512, seed: 5, mode: 'try' });
  });

  it('4 producers -> 1 consumer with async writers', async () => {
    await runTopology({ producers: 4, consumers: 1, count: n, capacity: 16384, maxLen: 1024, seed: 77, mode: 'async' });
  });
});

describe('RingBuffer native <-> JS', function () {
  this.timeout(60000);
  const t = require('./support/testing_binding');

  function view(rb) { return new Uint8Array(rb.buffer); }


  it('a native writer wakes a JS reader blocked in read()', () => {
    const rb = new RingBuffer(4096);
    const peer = t.startPeer(view(rb), false, 500, 3, 300, 50); // starts after 50 ms
    for (let seq = 0; seq < 500; seq++) {
      const m = rb.read({ timeout: 10000 });
      assert.ok(m !== null, 'timed out: the native write did not wake read()');
      assert.deepStrictEqual(m, nativeMessage(3, seq, 300));
    }
    assert.strictEqual(t.joinPeer(peer), 500);
  });

  it('a native writer wakes a JS reader awaiting readAsync()', async () => {
    const rb = new RingBuffer(4096);
    const peer = t.startPeer(view(rb), false, 300, 4, 200, 30);
    for (let seq = 0; seq < 300; seq++) {
      const m = await rb.readAsync({ timeout: 10000 });
      assert.ok(m !== null, 'timed out: the native write did not wake readAsync()');
      assert.deepStrictEqual(m, nativeMessage(4, seq, 200));
    }
    assert.strictEqual(t.joinPeer(peer), 300);
  });

  // The messages src/napi/testing.c's native peers write and check.
  function nativeMessage(seed, seq, maxLen) {
    let x = Math.imul((seed ^ Math.imul(seq, 2654435761 | 0)) >>> 0, 2246822519 | 0) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    const len = maxLen ? x % (maxLen + 1) : 0;
    const m = Buffer.allocUnsafe(4 + len);
    m.writeUInt32LE(seq, 0);
    for (let i = 0; i < len; i++) m[4 + i] = (seed + seq * 7 + i * 13 + (i >> 7)) & 0xff;
    return m;
  }

  it('a JS writer wakes a native reader, which checks every byte', async () => {
    const rb = new RingBuffer(1024);
    const peer = t.startPeer(view(rb), true, 2000, 11, 100, 0);
    for (let seq = 0; seq < 2000; seq++) {
      const m = nativeMessage(11, seq, 100);
      if (seq % 2) rb.write(m); else await rb.writeAsync(m);
    }
    assert.strictEqual(t.joinPeer(peer), 2000);
  });

  it('a native reader reports a corrupted message', () => {
    const rb = new RingBuffer(1024);
    const peer = t.startPeer(view(rb), true, 2, 11, 100, 0);
    rb.write(nativeMessage(11, 0, 100));
    const bad = nativeMessage(11, 1, 100);
    bad[bad.length - 1] ^= 1;
    rb.write(bad.length > 4 ? bad : Buffer.alloc(3));
    assert.ok(t.joinPeer(peer) < 0);
  });

  it('JS reads exactly what the native writer wrote', () => {
    const rb = new RingBuffer(512);
    const peer = t.startPeer(view(rb), false, 1000, 5, 200, 0);
    for (let seq = 0; seq < 1000; seq++) {
      assert.deepStrictEqual(rb.read({ timeout: 10000 }), nativeMessage(5, seq, 200));
    }
    assert.strictEqual(t.joinPeer(peer), 1000);
  });
});

describe('RingBuffer close, timeouts and abort', () => {
  it('readers drain what was written, then end; writers throw', async () => {
    const rb = new RingBuffer(256);
    rb.tryWrite('a');
    rb.tryWrite('b');
    rb.close();
    assert.strictEqual(rb.closed, true);
    assert.throws(() => rb.tryWrite('c'), { code: 'ERR_RING_CLOSED' });
    assert.throws(() => rb.write('c'), { code: 'ERR_RING_CLOSED' });
    await assert.rejects(rb.writeAsync('c'), { code: 'ERR_RING_CLOSED' });
    assert.strictEqual(rb.read().toString(), 'a');
    assert.strictEqual((await rb.readAsync()).toString(), 'b');
    assert.strictEqual(rb.read(), null);
    assert.strictEqual(await rb.readAsync(), null);
    assert.strictEqual(rb.tryRead(), null);
    rb.close(); // idempotent
  });

  it('close() ends pending readAsync calls and async iteration', async () => {
    const rb = new RingBuffer(256);
    const pending = [rb.readAsync(), rb.readAsync()];
    const seen = [];
    const iter = (async () => { for await (const m of rb) seen.push(m.toString()); })();
    setTimeout(() => { rb.tryWrite('x'); rb.close(); }, 20);
    const results = await Promise.all(pending);
    await iter;
    const all = [...results.filter(Boolean).map(String), ...seen];
    assert.deepStrictEqual(all, ['x']);
    assert.ok(results.includes(null));
  });

  it('close() rejects queued writeAsync calls', async () => {
    const rb = new RingBuffer(64);
    while (rb.tryWrite(Buffer.alloc(20)));
    const p = rb.writeAsync(Buffer.alloc(20));
    rb.close();
    await assert.rejects(p, { code: 'ERR_RING_CLOSED' });
  });

  it('read() and write() time out', () => {
    const rb = new RingBuffer(64);
    const t0 = Date.now();
    assert.strictEqual(rb.read({ timeout: 30 }), null);
    assert.ok(Date.now() - t0 >= 25);
    while (rb.tryWrite(Buffer.alloc(20)));
    assert.strictEqual(rb.write(Buffer.alloc(20), { timeout: 20 }), false);
    assert.strictEqual(rb.read({ timeout: 0 }).length, 20);
  });

  it('readAsync() and writeAsync() time out without blocking the loop', async () => {
    const rb = new RingBuffer(64);
    let ticks = 0;
    const iv = setInterval(() => ticks++, 2);
    assert.strictEqual(await rb.readAsync({ timeout: 40 }), null);
    clearInterval(iv);
    assert.ok(ticks >= 3, `event loop was blocked (${ticks} ticks)`);
    while (rb.tryWrite(Buffer.alloc(20)));
    assert.strictEqual(await rb.writeAsync(Buffer.alloc(20), { timeout: 20 }), false);
    // the timed-out write was dropped, not written later
    let n = 0;
    while (rb.tryRead()) n++;
    assert.strictEqual(n, 2);
  });

  it('an AbortSignal rejects queued reads and writes with AbortError', async () => {
    const rb = new RingBuffer(64);
    const ac = new AbortController();
    const p = rb.readAsync({ signal: ac.signal });
    setTimeout(() => ac.abort(), 10);
    await assert.rejects(p, { name: 'AbortError', code: 'ABORT_ERR' });
    await assert.rejects(rb.readAsync({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    while (rb.tryWrite(Buffer.alloc(20)));
    const ac2 = new AbortController();
    const w = rb.writeAsync('never written', { signal: ac2.signal });
    ac2.abort();
    await assert.rejects(w, { name: 'AbortError' });
    let n = 0;
    while (rb.tryRead()) n++;
    assert.strictEqual(n, 2);
    // the ring still works after the aborts
    assert.strictEqual(rb.tryWrite('ok'), true);
    assert.strictEqual((await rb.readAsync()).toString(), 'ok');
  });

  it('writeAsync keeps order with queued writes and tryWrite', async () => {
    const rb = new RingBuffer(64);
    while (rb.tryWrite(Buffer.alloc(20)));
    while (rb.tryWrite('')); // not even an empty message fits now
    const ps = [rb.writeAsync('1'), rb.writeAsync('2')];
    assert.strictEqual(rb.tryWrite('3'), false); // must not overtake 1 and 2
    while (rb.tryRead() !== null);
    assert.deepStrictEqual(await Promise.all(ps), [true, true]);
    assert.strictEqual(rb.tryWrite('3'), true);
    assert.deepStrictEqual([rb.tryRead(), rb.tryRead(), rb.tryRead()].map(String), ['1', '2', '3']);
  });

  it('an idle readAsync wait does not spin the CPU', async () => {
    const rb = new RingBuffer(64);
    const before = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    assert.strictEqual(await rb.readAsync({ timeout: 300 }), null);
    const wall = Number(process.hrtime.bigint() - t0) / 1000;
    const used = process.cpuUsage(before);
    // A polling wait would use about as much CPU as wall time.
    assert.ok(used.user + used.system < wall * 0.5, `cpu ${used.user + used.system} us over ${wall} us`);
  });
});

describe('RingBuffer bad input', () => {
  function healthy() {
    const rb = new RingBuffer(64);
    assert.strictEqual(rb.tryWrite('ok'), true);
    assert.strictEqual(rb.tryRead().toString(), 'ok');
  }
  afterEach(healthy);

  it('capacity of the wrong type or out of range', () => {
    for (const bad of ['1024', null, {}, 10n, undefined]) {
      assert.throws(() => new RingBuffer(bad), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    for (const bad of [0, -1, NaN, 1.5, Infinity, 2 ** 31, 2 ** 53]) {
      assert.throws(() => new RingBuffer(bad), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
    }
  });

  it('options of the wrong type or value', () => {
    assert.throws(() => new RingBuffer(64, 'multi'), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new RingBuffer(64, { producers: 'many' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new RingBuffer(64, { consumers: 2 }), { code: 'ERR_INVALID_ARG_VALUE' });
    const rb = new RingBuffer(64);
    assert.throws(() => rb.read({ timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => rb.read({ timeout: '1' }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => rb.read(5), { code: 'ERR_INVALID_ARG_TYPE' });
    return assert.rejects(rb.readAsync({ signal: 'nope' }), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('data of the wrong type', async () => {
    const rb = new RingBuffer(64);
    for (const bad of [1, null, undefined, {}, [1, 2], Symbol('s'), 5n]) {
      assert.throws(() => rb.tryWrite(bad), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => rb.write(bad), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(rb.writeAsync(bad), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    assert.strictEqual(rb.tryRead(), null);
  });

  it('a message larger than the ring', async () => {
    const rb = new RingBuffer(64);
    assert.strictEqual(rb.tryWrite(Buffer.alloc(60)), true);
    rb.tryRead();
    assert.throws(() => rb.tryWrite(Buffer.alloc(61)), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
    assert.throws(() => rb.write(Buffer.alloc(1000)), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => rb.tryWrite('x'.repeat(61)), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => rb.tryWrite('é'.repeat(31)), { code: 'ERR_OUT_OF_RANGE' }); // 62 UTF-8 bytes
    await assert.rejects(rb.writeAsync(Buffer.alloc(100)), { code: 'ERR_OUT_OF_RANGE' });
    assert.strictEqual(rb.tryRead(), null);
  });

  it('a detached buffer', () => {
    const rb = new RingBuffer(64);
    const ab = new ArrayBuffer(8);
    const view = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    assert.throws(() => rb.tryWrite(view), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => rb.tryWrite(ab), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.strictEqual(rb.tryRead(), null);
  });

  it('RingBuffer.from on things that are not rings', () => {
    for (const bad of [new ArrayBuffer(1024), Buffer.alloc(1024), null, 'ring', {}]) {
      assert.throws(() => RingBuffer.from(bad), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    assert.throws(() => RingBuffer.from(new SharedArrayBuffer(16)), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => RingBuffer.from(new SharedArrayBuffer(4096)), { code: 'ERR_INVALID_ARG_VALUE' });
    const random = new SharedArrayBuffer(4096);
    const u8 = new Uint8Array(random);
    for (let i = 0; i < u8.length; i++) u8[i] = (i * 7919 + 13) & 0xff;
    assert.throws(() => RingBuffer.from(random), { code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('RingBuffer.from on a ring whose header was overwritten', () => {
    const rb = new RingBuffer(256);
    rb.tryWrite('hello');
    const u8 = new Uint8Array(rb.buffer);
    const saved = Buffer.from(u8);
    // garbage everywhere in the first 400 bytes
    for (let i = 0; i < 400; i++) u8[i] = (i * 31 + 7) & 0xff;
    assert.throws(() => RingBuffer.from(rb.buffer), { code: 'ERR_INVALID_ARG_VALUE' });
    // only a position corrupted: more in use than the capacity
    u8.set(saved);
    const other = RingBuffer.from(rb.buffer);
    const i32 = new Int32Array(rb.buffer);
    const base = i32.findIndex((v) => v === 0x4e575242); // the magic word
    i32[base + 17] = 100000; // prod_tail
    assert.throws(() => RingBuffer.from(rb.buffer), { code: 'ERR_INVALID_ARG_VALUE' });
    // a ring already attached delivers what was really written, then
    // reports the corruption instead of reading garbage
    assert.strictEqual(other.tryRead().toString(), 'hello');
    assert.throws(() => other.tryRead(), { code: 'ERR_RING_CORRUPT' });
    // a buffer cut shorter than its header says
    u8.set(saved);
    const short = new SharedArrayBuffer(200);
    new Uint8Array(short).set(u8.subarray(0, 200));
    assert.throws(() => RingBuffer.from(short), { code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('a worker terminated while blocked in read()', async () => {
    const rb = new RingBuffer(64);
    const w = new Worker(`
      const { workerData, parentPort } = require('worker_threads');
      const { RingBuffer } = require(${JSON.stringify(path.join(__dirname, '..'))});
      const rb = RingBuffer.from(workerData);
      parentPort.postMessage('blocking');
      rb.read();
      parentPort.postMessage('unexpected');
    `, { eval: true, workerData: rb.buffer });
    await new Promise((resolve) => w.once('message', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const code = await w.terminate();
    assert.strictEqual(code, 1);
    // the ring is intact and usable by others
    assert.strictEqual(rb.tryWrite('after'), true);
    assert.strictEqual(RingBuffer.from(rb.buffer).tryRead().toString(), 'after');
  });

  it('a worker terminated while awaiting readAsync()', async () => {
    const rb = new RingBuffer(64);
    const w = new Worker(`
      const { workerData, parentPort } = require('worker_threads');
      const { RingBuffer } = require(${JSON.stringify(path.join(__dirname, '..'))});
      const rb = RingBuffer.from(workerData);
      rb.readAsync().then(() => parentPort.postMessage('read'));
      parentPort.postMessage('waiting');
    `, { eval: true, workerData: rb.buffer });
    await new Promise((resolve) => w.once('message', resolve));
    const code = await w.terminate();
    assert.strictEqual(code, 1);
    assert.strictEqual(rb.tryWrite('after'), true);
  });
});
