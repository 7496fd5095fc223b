'use strict';

// ThreadPool: every built-in kernel against Node's own crypto and zlib, the
// API surface (options, stats, close, destroy, abort, maxQueue) and bad
// input, each asserting the error code and that the pool still works after.

const assert = require('assert');
const crypto = require('crypto');
const zlib = require('zlib');
const { spawnSync } = require('child_process');
const path = require('path');

const { ThreadPool } = require('..');

// Deterministic pseudo-random bytes (xorshift32), so failures reproduce.
function bytes(n, seed = 1) {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// Compressible text of n bytes.
function text(n, seed = 7) {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'pool', 'thread', 'kernel', 'zlib'];
  let x = seed, out = '';
  while (out.length < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += `${words[x % words.length]} `;
  }
  return Buffer.from(out.slice(0, n));
}

const SIZES = [0, 1, 7, 1000, 65537, 3 * (1 << 20) + 5];

describe('ThreadPool kernels match Node byte for byte', function () {
  this.timeout(120000);
  let pool;
  before(() => { pool = new ThreadPool({ threads: 2 }); });
  after(() => pool.close());

  it('lists its built-in kernels', () => {
    for (const k of ['noop', 'sleep', 'sha256', 'sha512', 'crc32', 'deflate', 'inflate', 'gzip',
      'gunzip', 'brotliCompress', 'brotliDecompress', 'sort', 'sum']) {
      assert.ok(pool.kernels.includes(k), k);
    }
    // A copy: changing it changes nothing.
    pool.kernels.push('x');
    assert.ok(!pool.kernels.includes('x'));
  });

  for (const alg of ['sha256', 'sha512']) {
    it(`${alg} equals crypto.createHash on every size`, async () => {
      for (const n of SIZES) {
        const data = bytes(n, n + 1);
        const got = await pool.run(alg, data);
        assert.ok(Buffer.isBuffer(got));
        assert.deepStrictEqual(got, crypto.createHash(alg).update(data).digest(), `size ${n}`);
      }
    });
  }

  it('digests strings as UTF-8, and every view type by its bytes', async () => {
    assert.deepStrictEqual(await pool.run('sha256', 'héllo wörld'),
      crypto.createHash('sha256').update('héllo wörld', 'utf8').digest());
    const u16 = new Uint16Array([1, 2, 3, 65535]);
    const want = crypto.createHash('sha256').update(Buffer.from(u16.buffer)).digest();
    assert.deepStrictEqual(await pool.run('sha256', u16), want);
    assert.deepStrictEqual(await pool.run('sha256', new DataView(u16.buffer)), want);
    assert.deepStrictEqual(await pool.run('sha256', u16.buffer), want);
    const sab = new SharedArrayBuffer(8);
    new Uint16Array(sab).set(u16);
    assert.deepStrictEqual(await pool.run('sha256', sab), want);
    // A view of part of a buffer digests only that part.
    const big = bytes(100, 3);
    assert.deepStrictEqual(await pool.run('sha256', big.subarray(10, 20)),
      crypto.createHash('sha256').update(big.subarray(10, 20)).digest());
  });

  it('crc32 equals zlib.crc32 on every size', async () => {
    for (const n of SIZES) {
      const data = bytes(n, n + 5);
      assert.strictEqual(await pool.run('crc32', data), zlib.crc32(data), `size ${n}`);
    }
  });

  const pairs = [
    ['deflate', zlib.deflateSync, 'inflate', zlib.inflateSync],
    ['gzip', zlib.gzipSync, 'gunzip', zlib.gunzipSync],
    ['brotliCompress', zlib.brotliCompressSync, 'brotliDecompress', zlib.brotliDecompressSync],
  ];
  for (const [comp, nodeComp, decomp] of pairs) {
    it(`${comp} equals zlib's output and ${decomp} round-trips`, async () => {
      const sizes = comp === 'brotliCompress' ? [0, 1, 7, 1000, 65537, (1 << 20) + 3] : SIZES;
      for (const n of sizes) {
        for (const data of [bytes(n, n + 9), text(n)]) {
          const ours = await pool.run(comp, data);
          assert.deepStrictEqual(ours, nodeComp(data), `${comp} size ${n}`);
          assert.deepStrictEqual(await pool.run(decomp, ours), data, `${decomp} size ${n}`);
        }
      }
    });
  }

  it('gunzip reads concatenated members and ignores trailing zeros, like Node', async () => {
    const a = zlib.gzipSync('first '), b = zlib.gzipSync('second');
    const both = Buffer.concat([a, b]);
    assert.strictEqual((await pool.run('gunzip', both)).toString(), zlib.gunzipSync(both).toString());
    const padded = Buffer.concat([a, Buffer.alloc(8)]);
    assert.strictEqual((await pool.run('gunzip', padded)).toString(), zlib.gunzipSync(padded).toString());
  });

  it('corrupt or truncated input rejects with the error Node gives', async () => {
    const nodeErr = (fn, data) => {
      try { fn(data); } catch (e) { return e; }
      throw new Error('node accepted it');
    };
    const gz = zlib.gzipSync(text(10000));
    const df = zlib.deflateSync(text(10000));
    const br = zlib.brotliCompressSync(text(10000));
    const flipped = Buffer.from(df);
    flipped[flipped.length >> 1] ^= 0xff;
    const cases = [
      ['inflate', zlib.inflateSync, Buffer.from('not deflate data')],
      ['inflate', zlib.inflateSync, df.subarray(0, df.length - 10)],
      ['inflate', zlib.inflateSync, flipped],
      ['gunzip', zlib.gunzipSync, Buffer.from('not gzip data at all')],
      ['gunzip', zlib.gunzipSync, gz.subarray(0, 40)],
      ['brotliDecompress', zlib.brotliDecompressSync, Buffer.from('garbage!')],
      ['brotliDecompress', zlib.brotliDecompressSync, br.subarray(0, br.length >> 1)],
      ['inflate', zlib.inflateSync, Buffer.alloc(0)],
    ];
    for (const [k, fn, data] of cases) {
      const want = nodeErr(fn, data);
      await assert.rejects(pool.run(k, data), (err) => {
        assert.strictEqual(err.code, want.code, `${k}: ${err.message}`);
        assert.strictEqual(err.message, want.message);
        assert.strictEqual(err.errno, want.errno);
        return true;
      });
    }
    // Still healthy.
    assert.deepStrictEqual(await pool.run('inflate', df), text(10000));
  });

  it('sort sorts a SharedArrayBuffer-backed array in place, like TypedArray#sort', async () => {
    const types = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
      Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
    for (const T of types) {
      const n = 10001;
      const a = new T(new SharedArrayBuffer(n * T.BYTES_PER_ELEMENT));
      const src = bytes(n * 8, T.BYTES_PER_ELEMENT);
      for (let i = 0; i < n; i++) {
        const v = src.readInt32LE((i * 4) % (src.length - 4));
        a[i] = T === BigInt64Array || T === BigUint64Array ? BigInt(v) * 12345n : v / 7;
      }
      if (T === Float32Array || T === Float64Array) {
        a[0] = NaN; a[1] = -0; a[2] = 0; a[3] = -Infinity; a[4] = Infinity;
      }
      const want = T.from(a).sort();
      const got = await pool.run('sort', a);
      assert.strictEqual(got, a, `${T.name}: the same array comes back`);
      assert.deepStrictEqual(Array.from(got).map(String), Array.from(want).map(String), T.name);
      if (T === Float64Array) {
        assert.ok(Object.is(got[want.indexOf(0)], -0));
      }
    }
  });

  it('sort of an ordinary array returns a sorted copy and leaves the input alone', async () => {
    const a = new Int32Array([5, -1, 3, 2]);
    const got = await pool.run('sort', a);
    assert.ok(got instanceof Int32Array);
    assert.notStrictEqual(got, a);
    assert.deepStrictEqual(Array.from(got), [-1, 2, 3, 5]);
    assert.deepStrictEqual(Array.from(a), [5, -1, 3, 2]);
    const b = Buffer.from([3, 1, 2]);
    assert.deepStrictEqual(await pool.run('sort', b), Buffer.from([1, 2, 3]));
    assert.strictEqual((await pool.run('sort', new Float64Array(0))).length, 0);
  });

  it('sum adds like reduce in float64, and BigInt arrays exactly', async () => {
    const f = new Float64Array(10000).map((_, i) => Math.sin(i) * 1e6);
    assert.strictEqual(await pool.run('sum', f), f.reduce((x, y) => x + y, 0));
    const f32 = Float32Array.from(f);
    assert.strictEqual(await pool.run('sum', f32), f32.reduce((x, y) => x + y, 0));
    assert.strictEqual(await pool.run('sum', new Int16Array([-3, 5, 32767])), 32769);
    assert.strictEqual(await pool.run('sum', new Uint32Array([4294967295, 1])), 4294967296);
    assert.strictEqual(await pool.run('sum', new Uint8Array(0)), 0);
    const big = new BigInt64Array([9223372036854775807n, 9223372036854775807n, -5n]);
    assert.strictEqual(await pool.run('sum', big), 18446744073709551609n);
    const ubig = new BigUint64Array([18446744073709551615n, 18446744073709551615n]);
    assert.strictEqual(await pool.run('sum', ubig), 36893488147419103230n);
    assert.strictEqual(await pool.run('sum', new BigInt64Array([-1n, -2n])), -3n);
  });

  it('noop resolves undefined; sleep waits', async () => {
    assert.strictEqual(await pool.run('noop'), undefined);
    assert.strictEqual(await pool.run('noop', 'ignored'), undefined);
    assert.strictEqual(await pool.run('sleep', 1), undefined);
  });
});

describe('ThreadPool API', function () {
  this.timeout(60000);

  it('is exported by the CommonJS and the ESM entry points', async () => {
    const esm = await import('../lib/index.mjs');
    assert.strictEqual(esm.ThreadPool, ThreadPool);
    assert.strictEqual(esm.default.ThreadPool, ThreadPool);
  });

  it('validates its options', () => {
    for (const [opts, code] of [
      [null, 'ERR_INVALID_ARG_TYPE'],
      [5, 'ERR_INVALID_ARG_TYPE'],
      [{ threads: '2' }, 'ERR_INVALID_ARG_TYPE'],
      [{ threads: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ threads: 257 }, 'ERR_OUT_OF_RANGE'],
      [{ threads: 1.5 }, 'ERR_OUT_OF_RANGE'],
      [{ threads: NaN }, 'ERR_OUT_OF_RANGE'],
      [{ maxQueue: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ maxQueue: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ maxQueue: 2.5 }, 'ERR_OUT_OF_RANGE'],
      [{ maxQueue: 'many' }, 'ERR_INVALID_ARG_TYPE'],
    ]) {
      assert.throws(() => new ThreadPool(opts), { code }, JSON.stringify(opts));
    }
  });

  it('rejects bad arguments to run() with codes, and keeps working', async () => {
    const pool = new ThreadPool({ threads: 1 });
    try {
      await assert.rejects(pool.run('nope'), { code: 'ERR_UNKNOWN_KERNEL', name: 'Error' });
      await assert.rejects(pool.run(42), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(pool.run(), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(pool.run('sha256', {}), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(pool.run('sha256', [1, 2]), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(pool.run('sha256', Symbol('x')), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(pool.run('sha256', 'x', 'opts'), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(pool.run('sha256', 'x', { signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
      // Detached buffers.
      const ab = new ArrayBuffer(16);
      structuredClone(ab, { transfer: [ab] });
      await assert.rejects(pool.run('sha256', ab), { code: 'ERR_INVALID_ARG_VALUE' });
      const u8 = new Uint8Array(32);
      structuredClone(u8.buffer, { transfer: [u8.buffer] });
      await assert.rejects(pool.run('sha256', u8), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.deepStrictEqual(await pool.run('sha256', 'ok'), crypto.createHash('sha256').update('ok').digest());
    } finally {
      await pool.close();
    }
  });

  it('copies a small ordinary input at run(): changing or detaching it afterwards does not change the result', async () => {
    const pool = new ThreadPool({ threads: 1 });
    const data = bytes(60 * 1024, 99);
    const want = crypto.createHash('sha256').update(data).digest();
    const blocker = pool.run('sleep', 30);
    const p = pool.run('sha256', data);
    await null; // submitted (and copied) by now
    data.fill(7);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    assert.strictEqual(data.length, 0);
    await blocker;
    assert.deepStrictEqual(await p, want);
    await pool.close();
  });

  // Large ordinary inputs are copied by the pool thread where the system
  // allows process_vm_readv (as here), else at run() like small ones.
  const copyIn = require('../lib/internal/binding').pool.COPY_IN === 1;

  it('reads a large ordinary input when its task starts; detaching it before then rejects with ERR_INVALID_STATE', async () => {
    const pool = new ThreadPool({ threads: 1 });
    const data = bytes(1 << 20, 98);
    const keep = bytes(1 << 20, 97);
    const want = crypto.createHash('sha256').update(keep).digest();
    const blocker = pool.run('sleep', 30);
    const p = pool.run('sha256', data);
    const q = pool.run('sha256', keep);
    await null; // submitted by now, waiting behind the sleep
    structuredClone(data.buffer, { transfer: [data.buffer] });
    assert.strictEqual(data.length, 0);
    await blocker;
    if (copyIn) await assert.rejects(p, { code: 'ERR_INVALID_STATE' });
    else await p; // copied at run(): the detach came too late to matter
    assert.deepStrictEqual(await q, want, 'the neighbouring task is unaffected');
    await pool.close();
  });

  it('rejects with ERR_INVALID_STATE when a resizable input shrinks before its task starts', async () => {
    const pool = new ThreadPool({ threads: 1 });
    const ab = new ArrayBuffer(1 << 20, { maxByteLength: 4 << 20 });
    new Uint8Array(ab).fill(3);
    const blocker = pool.run('sleep', 30);
    const whole = pool.run('sha256', ab);
    const view = pool.run('sha256', new Uint8Array(ab, 0, 512 * 1024));
    await null;
    ab.resize(4096);
    await blocker;
    if (copyIn) {
      await assert.rejects(whole, { code: 'ERR_INVALID_STATE' });
      await assert.rejects(view, { code: 'ERR_INVALID_STATE' });
    } else {
      await Promise.all([whole, view]);
    }
    // Grown instead: the bytes the task was given are all still there, but
    // an ArrayBuffer input is its whole length, which changed.
    const ab2 = new ArrayBuffer(1 << 20, { maxByteLength: 4 << 20 });
    const fixed = new Uint8Array(ab2, 0, 1 << 20).fill(5);
    const want = crypto.createHash('sha256').update(fixed).digest();
    const blocker2 = pool.run('sleep', 30);
    const grownView = pool.run('sha256', fixed);
    const grownWhole = pool.run('sha256', ab2);
    await null;
    ab2.resize(2 << 20);
    await blocker2;
    assert.deepStrictEqual(await grownView, want);
    if (copyIn) await assert.rejects(grownWhole, { code: 'ERR_INVALID_STATE' });
    else await grownWhole;
    await pool.close();
  });

  it('large ordinary inputs of every view type give the results of small ones', async () => {
    const pool = new ThreadPool({ threads: 2 });
    const big = bytes(3 * (1 << 20) + 5, 96);
    const want = crypto.createHash('sha256').update(big).digest();
    const ab = big.buffer.slice(big.byteOffset, big.byteOffset + big.length);
    const off = Buffer.concat([Buffer.alloc(3), big]);
    const got = await Promise.all([
      pool.run('sha256', big),
      pool.run('sha256', ab),
      pool.run('sha256', new DataView(ab)),
      pool.run('sha256', off.subarray(3)),
    ]);
    for (const g of got) assert.deepStrictEqual(g, want);
    const nums = new Float64Array(200000).map((_, i) => (i * 7919) % 1000);
    const sorted = await pool.run('sort', nums);
    assert.ok(sorted instanceof Float64Array && sorted !== nums);
    assert.deepStrictEqual(sorted, Float64Array.from(nums).sort());
    assert.strictEqual(await pool.run('sum', nums), nums.reduce((a, b) => a + b, 0));
    await pool.close();
  });

  it('reports stats', async () => {
    const pool = new ThreadPool({ threads: 2 });
    const s0 = pool.stats;
    assert.deepStrictEqual(Object.keys(s0).sort(),
      ['cancelled', 'completed', 'failed', 'queued', 'runTime', 'running', 'threads', 'utilization', 'waitTime']);
    assert.strictEqual(s0.threads, 2);
    assert.strictEqual(s0.completed, 0);
    await Promise.all(Array.from({ length: 50 }, () => pool.run('sleep', 1)));
    await pool.run('inflate', 'bad').catch(() => {});
    const s = pool.stats;
    assert.strictEqual(s.completed, 50);
    assert.strictEqual(s.failed, 1);
    assert.strictEqual(s.queued, 0);
    assert.strictEqual(s.running, 0);
    assert.strictEqual(s.runTime.count, 51);
    assert.ok(s.runTime.p50 >= 0.9 && s.runTime.p50 <= s.runTime.p99, JSON.stringify(s.runTime));
    assert.ok(s.runTime.max >= s.runTime.p99);
    assert.ok(s.waitTime.count === 51 && s.waitTime.p50 >= 0);
    assert.ok(s.utilization > 0 && s.utilization <= 1);
    await pool.close();
    assert.strictEqual(pool.stats.threads, 0);
    assert.strictEqual(pool.stats.completed, 50);
  });

  it('rejects with ERR_POOL_QUEUE_FULL past maxQueue', async () => {
    const pool = new ThreadPool({ threads: 1, maxQueue: 3 });
    const running = pool.run('sleep', 1000);
    // Wait until it runs and the queue is empty (a loaded machine may take
    // a while to start the thread).
    for (let i = 0; i < 500 && (pool.stats.running !== 1 || pool.stats.queued !== 0); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepStrictEqual([pool.stats.running, pool.stats.queued], [1, 0]);
    const queued = [pool.run('noop'), pool.run('noop'), pool.run('noop')];
    const over = pool.run('noop');
    await assert.rejects(over, { code: 'ERR_POOL_QUEUE_FULL' });
    await Promise.all([running, ...queued]);
    assert.strictEqual(await pool.run('noop'), undefined);
    await pool.close();
  });

  it('aborts a queued task at once and a running one through its flag', async () => {
    const pool = new ThreadPool({ threads: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    const p1 = pool.run('sleep', 60000, { signal: running.signal });
    const p2 = pool.run('sleep', 60000, { signal: queued.signal });
    await new Promise((r) => setTimeout(r, 50));
    queued.abort();
    await assert.rejects(p2, { name: 'AbortError', code: 'ABORT_ERR' });
    assert.strictEqual(pool.stats.cancelled, 1);
    running.abort(new Error('why'));
    await assert.rejects(p1, (err) => err.name === 'AbortError' && err.cause.message === 'why');
    assert.strictEqual(pool.stats.cancelled, 2);
    // Already aborted: rejects without running.
    await assert.rejects(pool.run('noop', undefined, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    // Aborted in the same tick, before submission.
    const ac = new AbortController();
    const p3 = pool.run('sleep', 60000, { signal: ac.signal });
    ac.abort();
    await assert.rejects(p3, { name: 'AbortError' });
    // An abort after completion changes nothing.
    const ac2 = new AbortController();
    assert.strictEqual(await pool.run('crc32', 'a', { signal: ac2.signal }), zlib.crc32('a'));
    ac2.abort();
    assert.strictEqual(pool.stats.running, 0);
    await pool.close();
  });

  it('close() finishes running tasks, rejects queued ones, then refuses new ones', async () => {
    const pool = new ThreadPool({ threads: 1 });
    const running = pool.run('sleep', 100);
    await new Promise((r) => setTimeout(r, 30));
    const queued = Array.from({ length: 5 }, () => pool.run('sha256', 'x'));
    const staged = pool.run('noop'); // collected, not yet submitted
    const closing = pool.close();
    assert.strictEqual(pool.close(), closing);
    const rejected = [...queued, staged].map((q) => assert.rejects(q, { code: 'ERR_POOL_CLOSED' }));
    assert.strictEqual(await running, undefined);
    await Promise.all(rejected);
    await closing;
    await assert.rejects(pool.run('noop'), { code: 'ERR_POOL_CLOSED' });
    assert.throws(() => pool.load('/nonexistent.so'), { code: 'ERR_POOL_CLOSED' });
    assert.strictEqual(pool.stats.threads, 0);
  });

  it('destroy() stops running kernels and rejects everything with ERR_POOL_CLOSED', async () => {
    const pool = new ThreadPool({ threads: 2 });
    const tasks = Array.from({ length: 6 }, () => pool.run('sleep', 60000));
    const rejected = tasks.map((t) => assert.rejects(t, { code: 'ERR_POOL_CLOSED' }));
    await new Promise((r) => setTimeout(r, 30));
    await pool.destroy();
    await Promise.all(rejected);
    await pool.destroy();
    await pool.close();
  });

  it('an idle pool does not keep the process alive; a busy one does', () => {
    const lib = JSON.stringify(path.join(__dirname, '..'));
    const idle = spawnSync(process.execPath, ['-e',
      `const { ThreadPool } = require(${lib}); const p = new ThreadPool({ threads: 3 });
       p.run('noop').then(() => console.log('ran'));`], { encoding: 'utf8', timeout: 30000 });
    assert.strictEqual(idle.status, 0, idle.stderr);
    assert.strictEqual(idle.stdout.trim(), 'ran');
    const busy = spawnSync(process.execPath, ['-e',
      `const { ThreadPool } = require(${lib}); const p = new ThreadPool({ threads: 1 });
       p.run('sleep', 300).then(() => p.run('sha256', 'x')).then((h) => console.log(h.toString('hex')));`],
    { encoding: 'utf8', timeout: 30000 });
    assert.strictEqual(busy.status, 0, busy.stderr);
    assert.strictEqual(busy.stdout.trim(), crypto.createHash('sha256').update('x').digest('hex'));
  });

  it('a dropped pool is collected without close()', () => {
    const lib = JSON.stringify(path.join(__dirname, '..'));
    const r = spawnSync(process.execPath, ['--expose-gc', '-e',
      `const { ThreadPool } = require(${lib});
       (async () => {
         for (let i = 0; i < 50; i++) {
           const p = new ThreadPool({ threads: 2 });
           await p.run('crc32', 'abc');
         }
         for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
         const fs = require('fs');
         const threads = fs.readdirSync('/proc/self/task').length;
         console.log(threads);
       })();`], { encoding: 'utf8', timeout: 60000 });
    assert.strictEqual(r.status, 0, r.stderr);
    // 50 pools of 2 threads would be 100 threads; collected ones are joined.
    assert.ok(Number(r.stdout) < 60, r.stdout);
  });
});
