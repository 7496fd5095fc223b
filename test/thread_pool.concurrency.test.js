'use strict';

// ThreadPool under load: thousands of mixed tasks matched to their
// requests, aborts racing completions, pools in several worker threads at
// once, and workers that terminate with tasks in flight. Longer soaks run
// with NW_STRESS=1 (npm run test:stress).

const assert = require('assert');
const crypto = require('crypto');
const zlib = require('zlib');
const { Worker } = require('worker_threads');
const path = require('path');

const { ThreadPool } = require('..');

const STRESS = process.env.NW_STRESS === '1';
const lib = path.join(__dirname, '..');

// Seeded generator (mulberry32).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function payload(rand, n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | (i & 3 ? 0 : 0x41);
  return b;
}

// One random task and the answer Node gives for it.
function makeTask(rand, i) {
  const n = Math.floor(rand() * (rand() < 0.05 ? 200000 : 2000));
  const data = payload(rand, n);
  switch (Math.floor(rand() * 8)) {
    case 0: return { k: 'sha256', data, want: crypto.createHash('sha256').update(data).digest() };
    case 1: return { k: 'sha512', data, want: crypto.createHash('sha512').update(data).digest() };
    case 2: return { k: 'crc32', data, want: zlib.crc32(data) };
    case 3: return { k: 'gzip', data, want: zlib.gzipSync(data) };
    case 4: {
      const z = zlib.deflateSync(data);
      return { k: 'inflate', data: z, want: data };
    }
    case 5: return { k: 'noop', data, want: undefined };
    case 6: {
      const a = new Int32Array(new SharedArrayBuffer(4 * (n >> 2)));
      for (let j = 0; j < a.length; j++) a[j] = (rand() * 2 ** 32) | 0;
      const want = Int32Array.from(a).sort();
      return { k: 'sort', data: a, want, shared: true };
    }
    default: {
      const bad = Buffer.concat([Buffer.from([0x78, 0x9c, 0xff, i & 0xff]), data]);
      return { k: 'inflate', data: bad, wantCode: 'Z_DATA_ERROR' };
    }
  }
}

describe('ThreadPool concurrency', function () {
  this.timeout(STRESS ? 600000 : 120000);

  it('runs thousands of mixed tasks and matches every result to its request', async () => {
    const pool = new ThreadPool({ threads: 3 });
    const rand = rng(20261125);
    const N = STRESS ? 50000 : 3000;
    const tasks = Array.from({ length: N }, (_, i) => makeTask(rand, i));
    const results = await Promise.allSettled(tasks.map((t) => pool.run(t.k, t.data)));
    let bad = 0;
    results.forEach((r, i) => {
      const t = tasks[i];
      if (t.wantCode) {
        if (r.status !== 'rejected' || r.reason.code !== t.wantCode) bad++;
      } else if (r.status !== 'fulfilled') {
        bad++;
      } else if (t.shared) {
        if (r.value !== t.data || Buffer.compare(Buffer.from(r.value.buffer), Buffer.from(t.want.buffer)) !== 0) bad++;
      } else if (Buffer.isBuffer(t.want)) {
        if (!t.want.equals(r.value)) bad++;
      } else if (r.value !== t.want) {
        bad++;
      }
    });
    assert.strictEqual(bad, 0);
    const s = pool.stats;
    assert.strictEqual(s.completed + s.failed, N);
    await pool.close();
  });

  it('keeps track of a long task while a hundred thousand short ones pass it', async () => {
    const pool = new ThreadPool({ threads: 2 });
    const ac = new AbortController();
    const long = pool.run('sleep', 60000, { signal: ac.signal });
    const early = pool.run('sleep', 200);
    let sum = 0;
    for (let round = 0; round < 4; round++) {
      const ps = [];
      for (let i = 0; i < 30000; i++) ps.push(pool.run(i % 2 ? 'noop' : 'crc32', i % 2 ? undefined : 'x'));
      for (const v of await Promise.all(ps)) sum += v === undefined ? 0 : 1;
    }
    assert.strictEqual(sum, 60000);
    assert.strictEqual(await early, undefined);
    ac.abort();
    await assert.rejects(long, { name: 'AbortError' });
    await pool.close();
  });

  it('settles every task exactly once when aborts race completions', async () => {
    const pool = new ThreadPool({ threads: 2, maxQueue: 100000 });
    const rand = rng(7);
    const N = STRESS ? 20000 : 2000;
    const controllers = [];
    const promises = [];
    for (let i = 0; i < N; i++) {
      const ac = new AbortController();
      controllers.push(ac);
      const k = rand() < 0.1 ? 'sleep' : 'crc32';
      promises.push(pool.run(k, k === 'sleep' ? rand() * 2 : Buffer.from(`task ${i}`), { signal: ac.signal }));
    }
    const all = Promise.allSettled(promises);
    // Abort a random third, some at once, some a little later.
    const later = [];
    for (let i = 0; i < N; i++) {
      const r = rand();
      if (r < 0.15) controllers[i].abort();
      else if (r < 0.33) later.push(i);
    }
    await new Promise((r) => setTimeout(r, 1));
    for (const i of later) controllers[i].abort();
    const settled = await all;
    let ok = 0, aborted = 0;
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        ok++;
        if (typeof r.value === 'number') assert.strictEqual(r.value, zlib.crc32(`task ${i}`));
      } else {
        assert.strictEqual(r.reason.name, 'AbortError', r.reason.stack);
        assert.ok(controllers[i].signal.aborted);
        aborted++;
      }
    });
    assert.strictEqual(ok + aborted, N);
    assert.ok(aborted >= Math.floor(N * 0.1));
    const s = pool.stats;
    assert.strictEqual(s.queued, 0);
    assert.strictEqual(s.running, 0);
    await pool.close();
  });

  it('runs pools in several worker threads at once, each with its own completions', async () => {
    const code = `
      const { parentPort, workerData } = require('worker_threads');
      const crypto = require('crypto');
      const { ThreadPool } = require(${JSON.stringify(lib)});
      (async () => {
        const pool = new ThreadPool({ threads: 2 });
        const inputs = Array.from({ length: 300 }, (_, i) => Buffer.from(workerData.tag + ':' + i));
        const out = await Promise.all(inputs.map((b) => pool.run('sha256', b)));
        let ok = 0;
        out.forEach((h, i) => { if (h.equals(crypto.createHash('sha256').update(inputs[i]).digest())) ok++; });
        await pool.close();
        parentPort.postMessage({ tag: workerData.tag, ok });
      })();`;
    const W = 4;
    const results = await Promise.all(Array.from({ length: W }, (_, i) => new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { tag: `w${i}` } });
      let msg;
      w.on('message', (m) => { msg = m; });
      w.on('error', reject);
      w.on('exit', (c) => (c === 0 ? resolve(msg) : reject(new Error(`exit ${c}`))));
    })));
    assert.deepStrictEqual(results.map((r) => r.ok), Array(W).fill(300));
    // And the main thread's pool works alongside.
    const pool = new ThreadPool({ threads: 1 });
    assert.strictEqual(await pool.run('crc32', 'main'), zlib.crc32('main'));
    await pool.close();
  });

  it('a worker that terminates with tasks in flight leaks nothing and crashes nothing', async () => {
    const code = `
      const { parentPort } = require('worker_threads');
      const { ThreadPool } = require(${JSON.stringify(lib)});
      const pools = [new ThreadPool({ threads: 2 }), new ThreadPool({ threads: 1 })];
      for (const p of pools) {
        for (let i = 0; i < 4; i++) p.run('sleep', 60000).catch(() => {});
        for (let i = 0; i < 200; i++) p.run('gzip', Buffer.alloc(100000, i)).catch(() => {});
        for (let i = 0; i < 50; i++) {
          const a = new Float64Array(new SharedArrayBuffer(8 * 50000)).map(() => Math.random());
          p.run('sort', a).catch(() => {});
        }
      }
      // A pool busy copying and hashing large ordinary inputs (copied by
      // its threads as each task starts).
      const busy = new ThreadPool({ threads: 2 });
      const big = Buffer.alloc(1 << 20, 7);
      for (let i = 0; i < 400; i++) busy.run('sha256', big).catch(() => {});
      // An idle pool that is never closed, too.
      new ThreadPool({ threads: 2 });
      setTimeout(() => parentPort.postMessage('busy'), 20);`;
    const rounds = STRESS ? 40 : 6;
    const threadsBefore = require('fs').readdirSync('/proc/self/task').length;
    for (let r = 0; r < rounds; r++) {
      await new Promise((resolve, reject) => {
        const w = new Worker(code, { eval: true });
        w.on('message', () => w.terminate());
        w.on('error', reject);
        w.on('exit', () => resolve());
      });
    }
    // The pools' threads were joined when their environments went away.
    const threadsAfter = require('fs').readdirSync('/proc/self/task').length;
    assert.ok(threadsAfter <= threadsBefore + 2, `${threadsBefore} -> ${threadsAfter}`);
    const pool = new ThreadPool({ threads: 2 });
    assert.deepStrictEqual(await pool.run('sha256', 'still fine'),
      crypto.createHash('sha256').update('still fine').digest());
    await pool.close();
  });

  it('a worker that exits on its own with a busy pool also cleans up', async () => {
    const code = `
      const { ThreadPool } = require(${JSON.stringify(lib)});
      const p = new ThreadPool({ threads: 2 });
      p.run('sleep', 60000).catch(() => {});
      setTimeout(() => process.exit(0), 20);`;
    const exitCode = await new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true });
      w.on('error', reject);
      w.on('exit', resolve);
    });
    assert.strictEqual(exitCode, 0);
  });
});
