'use strict';

// Seeded mutation fuzzing of every decoder that reads bytes a peer wrote:
// valid records are recorded, then mutated (bit flips, byte sets, cuts,
// splices, length words), and each decoder must give a value or throw an
// Error — never crash, hang or throw anything else. A short run here; with
// NW_STRESS=1 (npm run test:stress), a long one. The seed of a failure is
// printed, so it can be replayed.

const assert = require('assert');
const v8 = require('v8');
const { Encoder, Decoder } = require('../lib/internal/wire');
const framing = require('../lib/internal/ipc/framing');
const { RingBuffer } = require('..');

const STRESS = process.env.NW_STRESS === '1';
const ROUNDS = STRESS ? 300000 : 20000;

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

// One mutation of `src` (a Buffer), chosen by `next`.
function mutate(src, next) {
  const b = Buffer.from(src);
  const n = 1 + (next() % 4);
  let out = b;
  for (let k = 0; k < n; k++) {
    const op = next() % 6;
    if (out.length === 0) out = Buffer.from([next() & 0xff]);
    const at = next() % out.length;
    if (op === 0) out[at] ^= 1 << (next() % 8);
    else if (op === 1) out[at] = next() & 0xff;
    else if (op === 2) out = out.subarray(0, at);
    else if (op === 3) out = Buffer.concat([out.subarray(0, at), out.subarray(next() % out.length)]);
    else if (op === 4 && out.length >= at + 4) out.writeUInt32LE(next(), at);
    else out = Buffer.concat([out, Buffer.from([next() & 0xff, next() & 0xff])]);
  }
  return out;
}

const VALUES = [
  0, -0, 1.5, NaN, 'text', 'ünï', '\ud800x', true, null, undefined, [], [1, [2, [3]]], { a: 1, b: 'two' },
  { nested: { deep: [1, { x: null }] }, n: -7 }, new Date(0), { k: 'v'.repeat(300) }, [{ a: 1 }, { a: 2 }, { a: 3 }],
];

function fuzz(name, corpus, decode) {
  it(`${name}: ${ROUNDS} mutations give a value or an Error`, () => {
    const seed0 = 0x5eed + name.length;
    for (let r = 0; r < ROUNDS; r++) {
      const next = rng(seed0 + r * 7919);
      const input = mutate(corpus[next() % corpus.length], next);
      try {
        decode(input);
      } catch (err) {
        assert.ok(err instanceof Error, `${name}, seed ${seed0 + r * 7919}: threw ${String(err)}`);
      }
    }
  });
}

describe('fuzzing the decoders of peer bytes', function () {
  this.timeout(STRESS ? 1800000 : 60000);

  // The wire form, records made by the encoder (both modes).
  const wire = [];
  for (const json of [false, true]) {
    const enc = new Encoder(json ? { json: true } : undefined);
    for (const v of VALUES) {
      const len = enc.encode(v, 1 << 16);
      if (len !== -1) wire.push(Buffer.from(enc.u8.subarray(0, len)));
      enc.commit();
    }
  }
  fuzz('wire form', wire, (b) => {
    const dec = new Decoder();
    dec.decode(b, new DataView(b.buffer, b.byteOffset, b.length), 0, b.length);
  });

  const adv = VALUES.concat([new Map([[1, 2]]), new Set([1]), 10n, new Uint8Array([1, 2, 3]), new Error('e')])
    .map((v) => framing.serializeAdvanced(v));
  const jsonBodies = VALUES.filter((v) => v !== undefined).map((v) => Buffer.from(JSON.stringify(v)));
  fuzz('JSON bodies', jsonBodies, (b) => framing.decodeBody(framing.RECORD_JSON, b));
  fuzz('advanced bodies', adv, (b) => framing.decodeBody(framing.RECORD_ADVANCED, b));

  const handles = [
    framing.encodeHandleBody(false, { m: 1 }, 'net.Socket', null),
    framing.encodeHandleBody(true, new Map([[1, 2]]), 'dgram.Socket', { dgramType: 'udp4' }),
    framing.encodeHandleBody(false, 'x', 'net.Server', null),
  ].map((s) => Buffer.from(s));
  fuzz('handle records', handles, (b) => framing.decodeHandleBody(b));

  const lines = [Buffer.from(jsonBodies.map((b) => `${b}\n`).join(''))];
  fuzz("Node's json lines", lines, (b) => {
    const p = new framing.JsonLineParser(1 << 20);
    p.push(b.subarray(0, b.length >> 1), () => {});
    p.push(b.subarray(b.length >> 1), () => {});
  });
  const framed = [Buffer.concat(VALUES.map((v) => framing.frameNode(true, v)))];
  fuzz("Node's advanced framing", framed, (b) => {
    const p = new framing.AdvancedParser();
    for (let i = 0; i < b.length; i += 7) p.push(b.subarray(i, i + 7), () => {});
  });

  fuzz('fragments', adv.concat(jsonBodies), (b) => {
    const f = new framing.Fragments(1 << 20);
    const types = [framing.RECORD_JSON | framing.RECORD_MORE, framing.RECORD_JSON, framing.RECORD_ADVANCED];
    for (let i = 0; i < b.length; i += 5) {
      if (f.add(types[b[i] % 3], b.subarray(i, i + 5))) framing.decodeBody(f.type, f.take());
    }
  });

  // RingBuffer.from on a header that was overwritten, then reads of it.
  const made = [];
  for (const opts of [{}, { producers: 'multi', consumers: 'multi' }]) {
    const rb = new RingBuffer(256, opts);
    rb.tryWrite('hello');
    rb.tryWrite(Buffer.alloc(40, 1));
    made.push(Buffer.from(new Uint8Array(rb.buffer)));
  }
  fuzz('RingBuffer.from headers and reads', made, (b) => {
    const sab = new SharedArrayBuffer(Math.max(b.length, 1));
    new Uint8Array(sab).set(b.subarray(0, sab.byteLength));
    let rb;
    try {
      rb = RingBuffer.from(sab);
    } catch (err) {
      assert.ok(['ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_TYPE'].includes(err.code), String(err));
      return;
    }
    for (let i = 0; i < 4; i++) {
      try {
        const m = rb.tryRead();
        if (m === null) break;
        assert.ok(Buffer.isBuffer(m));
      } catch (err) {
        assert.strictEqual(err.code, 'ERR_RING_CORRUPT', String(err));
        break;
      }
    }
  });
});
