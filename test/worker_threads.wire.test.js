'use strict';

// The binary form of plain-data messages in the worker_threads mirror
// (lib/internal/wire.js): what it carries must come out exactly as
// structuredClone gives it, and what it does not carry must be refused
// (the port then hands the value to Node's own clone).

const assert = require('assert');
const path = require('path');
const util = require('util');
const { Encoder, Decoder } = require('../lib/internal/wire');
const ours = require('../lib/worker_threads');

const LIMIT = 1 << 20;

// Encode and decode through a shared buffer, as the ring does.
function pair() {
  const enc = new Encoder();
  const dec = new Decoder();
  const sab = new SharedArrayBuffer(LIMIT + 64);
  const buf = Buffer.from(sab);
  const dv = new DataView(sab);
  return {
    enc,
    dec,
    // The decoded value, or the string 'refused'.
    trip(value, at = 8) {
      const len = enc.encode(value, LIMIT);
      if (len === -1) return 'refused';
      enc.commit();
      buf.set(enc.u8.subarray(0, len), at);
      return dec.decode(buf, dv, at, len);
    },
    record(value) {
      const len = enc.encode(value, LIMIT);
      assert.notStrictEqual(len, -1);
      enc.commit();
      return Buffer.from(enc.u8.subarray(0, len));
    },
    read(rec, d = dec) {
      buf.set(rec, 8);
      return d.decode(buf, dv, 8, rec.length);
    },
  };
}

// What a user can observe of a value: type, prototype, own keys in order,
// and the value itself (util.inspect shows -0, NaN and key order).
function observe(v) {
  const proto = v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === null ? 'null-proto' : typeof v;
  return `${Object.prototype.toString.call(v)} ${proto} ` +
    util.inspect(v, { depth: 10, showHidden: false, sorted: false, getters: false });
}

function assertSameAsClone(got, value, label) {
  const want = structuredClone(value);
  assert.strictEqual(observe(got), observe(want), label);
  assert.ok(util.isDeepStrictEqual(got, want), label);
}

describe('worker_threads message encoding', () => {
  it('carries plain data exactly as structuredClone gives it', () => {
    const p = pair();
    const nullProto = Object.create(null);
    nullProto.x = 1;
    const ownProto = JSON.parse('{"__proto__": {"a": 1}, "b": 2}');
    const values = [
      undefined, null, true, false, 0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 3.14, NaN, Infinity,
      -Infinity, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER, '', 'a', 'update', 'twelve chars', 'thirteen char',
      'latin1 \u00e9\u00ff\u0080', 'wide \u4e2d\u6587', 'emoji \ud83d\ude00', 'lone \ud800 high', 'lone \udc00 low',
      'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(5000), `${'\u00e9'.repeat(100)}\ud800`, '\u0000nul\u0000',
      [], [1, 2, 3], [undefined, null], [[[]]], {}, { a: 1 }, { id: 1, type: 'update', value: 3.14, ok: true },
      { a: undefined, b: -0, c: NaN }, { 2: 'two', 1: 'one', b: 'b', a: 'a' }, { '': 'empty key', 'k\u4e2d': 1 },
      nullProto, ownProto, { nested: { deeper: { deepest: [1, { x: 'y' }] } } },
      new Date(0), new Date(8.64e15), { when: new Date(1234567890123) },
      Array.from({ length: 1000 }, (_, i) => i * 1.5),
      Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])), // beyond a shape's keys
    ];
    for (let i = 0; i < values.length; i++) {
      // Twice: the second time the object shapes are known to the reader.
      for (let round = 0; round < 6; round++) {
        const got = p.trip(values[i]);
        assert.notStrictEqual(got, 'refused', `value ${i}`);
        assertSameAsClone(got, values[i], `value ${i} ${util.inspect(values[i]).slice(0, 60)}, round ${round}`);
      }
    }
  });

  it('carries an invalid Date as an invalid Date', () => {
    const got = pair().trip({ d: new Date(NaN) });
    assert.ok(got.d instanceof Date);
    assert.ok(Number.isNaN(got.d.getTime()));
  });

  it('keeps shared references, like clone', () => {
    const p = pair();
    const shared = { s: 1 };
    const when = new Date(5);
    const arr = [1];
    const got = p.trip({ x: shared, y: shared, d1: when, d2: when, a: [arr, arr], z: { inner: shared } });
    assert.strictEqual(got.x, got.y);
    assert.strictEqual(got.z.inner, got.x);
    assert.strictEqual(got.d1, got.d2);
    assert.strictEqual(got.a[0], got.a[1]);
    assert.deepStrictEqual(got.x, { s: 1 });
    // More than a handful of objects (the encoder switches to a map).
    const many = Array.from({ length: 100 }, (_, i) => ({ i }));
    const back = p.trip({ list: many, again: many.slice().reverse() });
    for (let i = 0; i < 100; i++) assert.strictEqual(back.list[i], back.again[99 - i]);
  });

  it('refuses what it cannot carry exactly, and is unharmed by it', () => {
    const p = pair();
    const cyclic = { a: 1 };
    cyclic.self = cyclic;
    const named = [1, 2];
    named.extra = 1;
    const changed = [1];
    Object.setPrototypeOf(changed, Object.prototype);
    class Foo { constructor() { this.x = 1; } }
    const refused = [
      new Map(), new Set(), new Error('e'), /re/, 10n, Symbol('s'), () => 1, [1, , 3], // eslint-disable-line no-sparse-arrays
      named, changed, Object.create(Array.prototype), Object.create(Date.prototype), new Foo(), cyclic,
      { deep: { ab: new ArrayBuffer(4) } }, { u8: new Uint8Array(2) }, { sab: new SharedArrayBuffer(4) },
      new Proxy({}, {}), new Proxy([], {}), new Number(1), new String('s'), { n: 10n },
      JSON.parse('{"a":{"b":{"c":' + '['.repeat(80) + ']'.repeat(80) + '}}}'),
    ];
    for (let i = 0; i < refused.length; i++) {
      assert.strictEqual(p.trip(refused[i]), 'refused', `value ${i}`);
    }
    // A Proxy is refused before any of its traps runs, as clone does.
    let trapped = 0;
    const watched = new Proxy({ a: 1 }, {
      getPrototypeOf() { trapped++; return Object.prototype; },
      ownKeys(t) { trapped++; return Reflect.ownKeys(t); },
      get(t, k) { trapped++; return t[k]; },
    });
    assert.strictEqual(p.trip(watched), 'refused');
    assert.strictEqual(p.trip({ inner: watched }), 'refused');
    assert.strictEqual(trapped, 0);
    // Larger than the limit.
    assert.strictEqual(p.enc.encode({ s: 'x'.repeat(LIMIT) }, LIMIT), -1);
    // A refused value that met a new shape first must not leave that shape
    // behind: the reader never saw its definition.
    assert.strictEqual(p.trip({ fresh: 1, bad: new Map() }), 'refused');
    assertSameAsClone(p.trip({ fresh: 2, bad: 3 }), { fresh: 2, bad: 3 });
    assertSameAsClone(p.trip({ fresh: 2, bad: 3 }), { fresh: 2, bad: 3 });
    // An object whose keys change while it is read is refused, not garbled.
    const shifty = { a: 1, get b() { delete this.c; this.d = 1; return 2; }, c: 3 };
    assert.strictEqual(p.trip(shifty), 'refused');
  });

  it('lets a getter\'s error out, as postMessage does', () => {
    const p = pair();
    const boom = new Error('from getter');
    assert.throws(() => p.enc.encode({ first: 1, get second() { throw boom; } }, LIMIT), (e) => e === boom);
    assertSameAsClone(p.trip({ first: 1, second: 2 }), { first: 1, second: 2 });
  });

  it('gives objects of a known shape the same keys, __proto__ and integer keys included', () => {
    const p = pair();
    for (let i = 0; i < 10; i++) {
      const v = JSON.parse(`{"__proto__": ${i}, "7": "seven", "x": [${i}]}`);
      const got = p.trip(v);
      assert.strictEqual(Object.getPrototypeOf(got), Object.prototype);
      assert.deepStrictEqual(Object.keys(got), ['7', '__proto__', 'x']);
      assert.strictEqual(got.__proto__, i); // eslint-disable-line no-proto
    }
  });

  it('falls back to keyed objects when a writer has defined its share of shapes', () => {
    const p = pair();
    for (let i = 0; i < 1500; i++) {
      const v = { [`key${i}`]: i, common: 'c' };
      assertSameAsClone(p.trip(v), v, `shape ${i}`);
    }
    assertSameAsClone(p.trip({ key3: 9, common: 'd' }), { key3: 9, common: 'd' });
  });

  it('a reader that moves on takes the shapes it knows; a new writer redefines them', () => {
    const p = pair();
    p.trip({ a: 1, b: 'x' }); // defines the shape for the first reader
    const later = p.record({ a: 2, b: 'y' }); // uses it without defining it
    const moved = new Decoder(p.dec.exportShapes());
    assert.deepStrictEqual(p.read(later, moved), { a: 2, b: 'y' });
    assert.throws(() => p.read(later, new Decoder()), /malformed/);
    // A new writer starts numbering again; its definitions replace the old.
    const w2 = new Encoder();
    const len = w2.encode({ other: true }, LIMIT);
    w2.commit();
    assert.deepStrictEqual(p.read(Buffer.from(w2.u8.subarray(0, len)), moved), { other: true });
  });

  it('throws on malformed records instead of crashing', () => {
    const p = pair();
    const good = p.record({ a: [1, 'two', 3.5], b: { c: null } });
    for (let cut = 2; cut < good.length; cut++) {
      assert.throws(() => p.read(good.subarray(0, cut)), /malformed/, `cut at ${cut}`);
    }
    const bad = [
      [0x76, 0, 99], // unknown tag
      [0x76, 0, 9, 200, 0, 0, 0], // unknown shape
      [0x76, 0, 13, 0, 0, 0, 0], // a reference without references
      [0x76, 1, 13, 5, 0, 0, 0], // a reference to nothing
      [0x76, 0, 12, 255, 255, 255, 127], // an array longer than the record
      [0x76, 0, 6, 10, 65], // a string longer than the record
      [0x76, 0, 10, 0, 0, 1, 0, 1, 0, 0, 0], // a shape id out of range
      [0x76, 0, 1, 1], // bytes after the value
    ];
    for (const b of bad) assert.throws(() => p.read(Buffer.from(b)), /malformed/, JSON.stringify(b));
  });
});

describe('worker_threads message encoding across threads', function () {
  this.timeout(30000);
  const LIB = path.join(__dirname, '..', 'lib', 'worker_threads');

  it('a port moved to a worker reads messages whose shape it learned on the main thread', async () => {
    const { port1, port2 } = new ours.MessageChannel();
    for (let i = 0; i < 5; i++) port1.postMessage({ a: i, b: 'x' });
    for (let i = 0; i < 5; i++) assert.deepStrictEqual(ours.receiveMessageOnPort(port2).message, { a: i, b: 'x' });
    for (let i = 5; i < 10; i++) port1.postMessage({ a: i, b: 'x' }); // in the ring, shape not redefined
    const w = new ours.Worker(`
      const { parentPort, workerData } = require(${JSON.stringify(LIB)});
      workerData.port.on('message', (m) => {
        parentPort.postMessage(m);
        if (m.a === 14) workerData.port.close();
      });`, { eval: true, workerData: { port: port2 }, transferList: [port2] });
    const got = [];
    const done = new Promise((resolve) => w.on('message', (m) => { got.push(m); if (got.length === 10) resolve(); }));
    for (let i = 10; i < 15; i++) port1.postMessage({ a: i, b: 'x' });
    await done;
    assert.deepStrictEqual(got, Array.from({ length: 10 }, (_, i) => ({ a: i + 5, b: 'x' })));
    await w.terminate();
    port1.close();
  });

  it('a port moved to a worker writes with shapes of its own', async () => {
    const { port1, port2 } = new ours.MessageChannel();
    for (let i = 0; i < 5; i++) port1.postMessage({ a: i, b: 'x' });
    for (let i = 0; i < 5; i++) ours.receiveMessageOnPort(port2);
    const w = new ours.Worker(`
      const { workerData } = require(${JSON.stringify(LIB)});
      const p = workerData.port;
      for (let i = 0; i < 20; i++) p.postMessage(i % 2 ? { c: i } : { b: String(i), a: i });
      p.close();`, { eval: true, workerData: { port: port1 }, transferList: [port1] });
    const got = [];
    await new Promise((resolve) => {
      port2.on('message', (m) => got.push(m));
      port2.on('close', resolve);
    });
    assert.deepStrictEqual(got, Array.from({ length: 20 }, (_, i) => (i % 2 ? { c: i } : { b: String(i), a: i })));
    await w.terminate();
  });
});
