'use strict';

// pool.stats: ThreadPool's stats shape for JavaScript tasks, so that native
// kernels and JS tasks report one kind of numbers. The key sets are checked
// against a live ThreadPool's, the counters against what the tasks did, on
// both runtimes; one scenario runs on a ThreadPool and a Pool side by side.

const assert = require('assert');
const path = require('path');
const { once } = require('events');
const Pool = require('../lib/pool');
const { ThreadPool } = require('../lib/thread_pool');

const F = (name) => path.join(__dirname, 'fixtures', 'pool', name);

const pools = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

function threadPoolKeys() {
  const tp = new ThreadPool({ threads: 1 });
  const s = tp.stats;
  const keys = {
    top: Object.keys(s).sort(),
    runTime: Object.keys(s.runTime).sort(),
    waitTime: Object.keys(s.waitTime).sort(),
  };
  return tp.close().then(() => keys);
}

// Settles `promise` and says how: ['ok', value] or ['err', error].
function outcome(promise) {
  return promise.then((v) => ['ok', v], (e) => ['err', e]);
}

function checkNumbers(s) {
  for (const [k, v] of Object.entries(s)) {
    if (k === 'runTime' || k === 'waitTime') {
      for (const [k2, v2] of Object.entries(v)) {
        assert.ok(typeof v2 === 'number' && Number.isFinite(v2) && v2 >= 0, `${k}.${k2} = ${v2}`);
      }
    } else {
      assert.ok(typeof v === 'number' && Number.isFinite(v) && v >= 0, `${k} = ${v}`);
    }
  }
  assert.ok(s.utilization <= 1, `utilization ${s.utilization}`);
  for (const h of [s.runTime, s.waitTime]) {
    assert.ok(h.min <= h.p50 && h.p50 <= h.p90 && h.p90 <= h.p99, JSON.stringify(h));
    assert.ok(h.count === 0 || (h.min <= h.mean && h.mean <= h.max), JSON.stringify(h));
  }
}

for (const runtime of ['thread', 'process']) {
  const make = (options) => {
    const pool = new Pool({ runtime, ...options });
    pools.push(pool);
    return pool;
  };

  describe(`pool.stats, runtime: '${runtime}'`, () => {
    it("has exactly ThreadPool's fields, all numbers, zero on a new pool", async () => {
      const want = await threadPoolKeys();
      const pool = make({ filename: F('echo.js'), minThreads: 1, maxThreads: 2 });
      const s = pool.stats;
      assert.deepStrictEqual(Object.keys(s).sort(), want.top);
      assert.deepStrictEqual(Object.keys(s.runTime).sort(), want.runTime);
      assert.deepStrictEqual(Object.keys(s.waitTime).sort(), want.waitTime);
      checkNumbers(s);
      assert.deepStrictEqual({ ...s, runTime: null, waitTime: null, utilization: null }, {
        threads: 1, queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0,
        runTime: null, waitTime: null, utilization: null,
      });
      assert.deepStrictEqual(s.runTime, { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0 });
      assert.deepStrictEqual(s.waitTime, s.runTime);
      assert.strictEqual(s.utilization, 0);
    });

    it('completed and failed follow what the tasks did; times and utilization move', async () => {
      const pool = make({ filename: F('throw.js'), minThreads: 2, maxThreads: 2 });
      const N = 200;
      const M = 7;
      const runs = [];
      for (let i = 0; i < N; i++) runs.push(pool.run(i, { filename: F('echo.js') }));
      for (let i = 0; i < M; i++) runs.push(pool.run(`m${i}`, { name: i % 2 === 0 ? 'sync' : 'rejects' }));
      const got = await Promise.all(runs.map(outcome));
      for (let i = 0; i < N; i++) assert.deepStrictEqual(got[i], ['ok', i]);
      for (let i = N; i < N + M; i++) assert.strictEqual(got[i][0], 'err');
      const s = pool.stats;
      checkNumbers(s);
      assert.strictEqual(s.completed, N);
      assert.strictEqual(s.failed, M);
      assert.strictEqual(s.cancelled, 0);
      assert.strictEqual(s.queued, 0);
      assert.strictEqual(s.running, 0);
      assert.strictEqual(s.threads, 2);
      assert.strictEqual(s.runTime.count, N + M);
      assert.strictEqual(s.waitTime.count, N + M);
      assert.ok(s.runTime.max > 0);
      assert.ok(s.utilization > 0);
      // piscina's counter counts both kinds.
      assert.strictEqual(pool.completed, N + M);
    });

    it('queued and running while a thread is busy; close() freezes the figures', async () => {
      const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
      assert.strictEqual(await pool.run(1, { name: 'ok' }), 1);
      const hang = outcome(pool.run(null, { name: 'hang' })); // handed over at once
      let s = pool.stats;
      assert.strictEqual(s.running, 1);
      assert.strictEqual(s.queued, 0);
      const queued = [1, 2, 3].map((x) => outcome(pool.run(x, { name: 'ok' })));
      s = pool.stats;
      assert.strictEqual(s.running, 1);
      assert.strictEqual(s.queued, 3);
      assert.strictEqual(s.queued, pool.queueSize);
      assert.strictEqual(s.completed, 1);
      // destroy(): the running task was stopped by the pool (cancelled, as
      // a destroyed ThreadPool's running kernels); the queued ones were
      // dropped, not run, and count nowhere, as with ThreadPool.
      await pool.destroy();
      const [h, ...q] = await Promise.all([hang, ...queued]);
      assert.strictEqual(h[1].code, 'ERR_POOL_TERMINATED');
      for (const [kind] of q) assert.strictEqual(kind, 'err');
      s = pool.stats;
      assert.deepStrictEqual([s.threads, s.queued, s.running, s.completed, s.failed, s.cancelled], [0, 0, 0, 1, 0, 1]);
      // Frozen, and each read is a copy of its own.
      s.completed = 99;
      s.runTime.count = 99;
      assert.deepStrictEqual(pool.stats, { ...s, completed: 1, runTime: { ...s.runTime, count: 2 } });
      assert.strictEqual(pool.stats.utilization, pool.stats.utilization);
    });

    it('an abort counts as cancelled, queued or running; a refused task counts nowhere', async () => {
      const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1, maxQueue: 1 });
      const running = new AbortController();
      const waiting = new AbortController();
      const p1 = outcome(pool.run(null, { name: 'hang', signal: running.signal }));
      const p2 = outcome(pool.run(1, { name: 'ok', signal: waiting.signal }));
      assert.deepStrictEqual([pool.stats.running, pool.stats.queued], [1, 1]);
      // Refused: a full queue, an already aborted signal.
      const full = await outcome(pool.run(2, { name: 'ok' }));
      assert.strictEqual(full[1].code, 'ERR_POOL_QUEUE_FULL');
      const early = await outcome(pool.run(3, { name: 'ok', signal: AbortSignal.abort() }));
      assert.strictEqual(early[1].name, 'AbortError');
      assert.strictEqual(pool.stats.cancelled, 0);
      waiting.abort();
      assert.strictEqual((await p2)[1].name, 'AbortError');
      assert.deepStrictEqual([pool.stats.cancelled, pool.stats.queued, pool.stats.running], [1, 0, 1]);
      const replaced = once(pool, 'workerCreate');
      running.abort();
      assert.strictEqual((await p1)[1].name, 'AbortError');
      await replaced;
      assert.strictEqual(await pool.run(4, { name: 'ok' }), 4);
      const s = pool.stats;
      assert.deepStrictEqual([s.completed, s.failed, s.cancelled, s.queued, s.running, s.threads], [1, 0, 2, 0, 0, 1]);
      // Run times: the running abort and the one that ran; waits: those two.
      assert.strictEqual(s.runTime.count, 2);
      assert.strictEqual(s.waitTime.count, 2);
      // A closing pool refuses too, and that is not counted either.
      const closing = pool.close();
      assert.strictEqual((await outcome(pool.run(5, { name: 'ok' })))[1].code, 'ERR_POOL_CLOSED');
      await closing;
      assert.deepStrictEqual([pool.stats.completed, pool.stats.failed, pool.stats.cancelled], [1, 0, 2]);
    });

    it('a worker that dies fails its tasks, and the replacement counts on', async () => {
      const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
      const destroyed = once(pool, 'workerDestroy');
      const died = await outcome(pool.run(9, { name: 'exit' }));
      assert.strictEqual(died[1].code, 'ERR_POOL_WORKER_EXITED');
      await destroyed;
      assert.strictEqual(await pool.run('x', { name: 'ok' }), 'x');
      const s = pool.stats;
      assert.deepStrictEqual([s.completed, s.failed, s.cancelled, s.threads], [1, 1, 0, 1]);
    });

    it('recordTiming: false leaves the times empty; the counters and utilization still move', async () => {
      const pool = make({ filename: F('crash.js'), recordTiming: false, minThreads: 1, maxThreads: 1 });
      assert.strictEqual(await pool.run(5, { name: 'spin' }), 'spun');
      const s = pool.stats;
      checkNumbers(s);
      assert.strictEqual(s.completed, 1);
      assert.strictEqual(s.runTime.count, 0);
      assert.strictEqual(s.waitTime.count, 0);
      assert.ok(s.utilization > 0);
    });
  });
}

describe('pool.stats and ThreadPool.stats side by side', () => {
  it('the same scenario gives the same counters', async () => {
    const tp = new ThreadPool({ threads: 1 });
    const pool = new Pool({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
    pools.push(pool);
    // One that runs long, one aborted while it waits behind it, 20 that
    // succeed and 3 that fail. (The pools submit on the next tick at the
    // latest: the abort comes after that.)
    const scenario = async (ok, fail, hang) => {
      const ac = new AbortController();
      const runs = [];
      const blocker = outcome(hang());
      const aborted = outcome(ok(ac.signal));
      await new Promise((resolve) => setImmediate(resolve));
      ac.abort();
      for (let i = 0; i < 20; i++) runs.push(outcome(ok()));
      for (let i = 0; i < 3; i++) runs.push(outcome(fail()));
      const [b, a, ...rest] = await Promise.all([blocker, aborted, ...runs]);
      assert.strictEqual(b[0], 'ok');
      assert.strictEqual(a[1].name, 'AbortError');
      assert.deepStrictEqual(rest.map(([kind]) => kind), [...Array(20).fill('ok'), ...Array(3).fill('err')]);
    };
    await scenario(
      (signal) => tp.run('noop', undefined, { signal }),
      () => tp.run('inflate', 'not deflate data'),
      () => tp.run('sleep', 300),
    );
    await scenario(
      (signal) => pool.run(1, { name: 'ok', signal }),
      () => pool.run(null, { name: 'nope' }), // no such export: rejects
      () => pool.run(300, { name: 'spin' }),
    );
    const a = tp.stats;
    const b = pool.stats;
    await tp.close();
    const pick = (s) => [s.completed, s.failed, s.cancelled, s.queued, s.running, s.runTime.count];
    assert.deepStrictEqual(pick(b), pick(a));
    assert.deepStrictEqual(pick(a), [21, 3, 1, 0, 0, 24]);
  });

  it('stats is read-only, as ThreadPool\'s', () => {
    const pool = new Pool({ filename: F('echo.js'), minThreads: 0 });
    pools.push(pool);
    const tp = new ThreadPool({ threads: 1 });
    for (const p of [pool, tp]) {
      assert.throws(() => { p.stats = {}; }, TypeError); // strict mode: a getter only
      assert.strictEqual(typeof p.stats.completed, 'number');
    }
    return tp.close();
  });
});
