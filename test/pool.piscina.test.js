'use strict';

// The same scenarios on piscina 5.3.2 (a pinned devDependency) and on
// native-workers/pool, comparing what a user sees: values, rejections (name,
// message), thread counts, events, the shape of stats and options. Where
// ours adds a `code`, piscina has none to compare.

const assert = require('assert');
const path = require('path');
const { once } = require('events');
const { Piscina } = require('piscina');
const Pool = require('../lib/pool');

const F = (name) => path.join(__dirname, 'fixtures', 'pool', name);
const IMPLS = { piscina: Piscina, ours: Pool };

const pools = [];
function make(Impl, options) {
  const pool = new Impl(options);
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

// Settle a promise into what a user would look at.
async function outcome(promise) {
  try {
    return { value: await promise };
  } catch (err) {
    return { name: err && err.name, message: err && err.message, cause: err && err.cause };
  }
}

// Run `scenario(Impl)` on both and compare its results.
async function same(scenario) {
  const piscina = await scenario(Piscina);
  const ours = await scenario(Pool);
  assert.deepStrictEqual(ours, piscina);
  return ours;
}

describe('pool against piscina: the same scenario, the same outcome', () => {
  it('values of CJS, named, ESM and async tasks', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('named.js') });
      return Promise.all([
        pool.run({ a: 2, b: 3 }, { name: 'add' }),
        pool.run({ a: 2, b: 3 }, { name: 'mul' }),
        pool.run(7, { filename: F('esm.mjs') }),
        pool.run(7, { filename: F('esm.mjs'), name: 'triple' }),
        pool.run({ ms: 5, value: 'a' }, { filename: F('async.js') }),
        pool.run(new Map([[1, { x: [1n] }]]), { filename: F('echo.js') }),
      ]);
    });
  });

  it('a task that throws or rejects: the same name and message', async () => {
    const got = await same(async (Impl) => {
      const pool = make(Impl, { filename: F('throw.js') });
      return [
        await outcome(pool.run('m1', { name: 'sync' })),
        await outcome(pool.run('m2', { name: 'rejects' })),
      ];
    });
    assert.strictEqual(got[0].name, 'TypeError');
  });

  it('abort before the run and during it; the pool goes on', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
      const before = new AbortController();
      before.abort('early');
      const r1 = await outcome(pool.run(1, { name: 'ok', signal: before.signal }));
      const during = new AbortController();
      const p = pool.run(null, { name: 'hang', signal: during.signal });
      await new Promise((r) => setTimeout(r, 50));
      during.abort('late');
      const r2 = await outcome(p);
      const r3 = await outcome(pool.run('after', { name: 'ok' }));
      return [r1, r2, r3];
    });
  });

  it('maxQueue: the full queue and the no-queue rejections', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('async.js'), minThreads: 1, maxThreads: 1, maxQueue: 1 });
      const a = pool.run({ ms: 40, value: 'a' });
      const b = pool.run({ ms: 0, value: 'b' });
      const c = await outcome(pool.run({ ms: 0, value: 'c' }));
      const none = make(Impl, { filename: F('async.js'), minThreads: 1, maxThreads: 1, maxQueue: 0 });
      const d = none.run({ ms: 40, value: 'd' });
      const e = await outcome(none.run({ ms: 0, value: 'e' }));
      return [await a, await b, c, await d, e, pool.options.maxQueue];
    });
  });

  it("maxQueue 'auto' and the thread bounds as filled in", async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('echo.js'), minThreads: 1, maxThreads: 3, maxQueue: 'auto' });
      const a = make(Impl, { filename: F('echo.js'), maxThreads: 1 });
      return [pool.options.maxQueue, pool.minThreads, pool.maxThreads, a.minThreads, a.maxThreads];
    });
  });

  it('a thread that exits in a task: the message, and the pool refills to minThreads', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('crash.js'), minThreads: 2, maxThreads: 2 });
      await pool.run(1, { name: 'ok' });
      const r = await outcome(pool.run(3, { name: 'exit' }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      return [r, pool.threads.length, await pool.run(2, { name: 'ok' })];
    });
  });

  it('destroy(): queued and running tasks are rejected with the same message', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
      const running = outcome(pool.run(null, { name: 'hang' }));
      const queued = outcome(pool.run(1, { name: 'ok' }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await pool.destroy();
      return [await running, await queued, pool.threads.length];
    });
  });

  it("close(): running and queued tasks finish, 'close' is emitted, no threads are left", async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('async.js'), minThreads: 1, maxThreads: 1 });
      const ps = [1, 2, 3].map((value) => pool.run({ ms: 20, value }));
      const closed = once(pool, 'close').then(() => 'close');
      await pool.close();
      return [await Promise.all(ps), await closed, pool.threads.length];
    });
  });

  it('close({ force: true }): a queued task is aborted, the running one finishes', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('async.js'), minThreads: 1, maxThreads: 1 });
      const running = outcome(pool.run({ ms: 40, value: 'ran' }));
      const queued = outcome(pool.run({ ms: 0, value: 'queued' }));
      await pool.close({ force: true });
      const q = await queued;
      return [await running, q.name, q.message];
    });
  });

  it('idleTimeout brings the threads back to minThreads', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('async.js'), minThreads: 1, maxThreads: 3, idleTimeout: 50 });
      const ps = [1, 2, 3, 4, 5, 6].map((value) => pool.run({ ms: 30, value }));
      const busy = pool.threads.length;
      await Promise.all(ps);
      await new Promise((resolve) => setTimeout(resolve, 400));
      return [busy, pool.threads.length];
    });
  });

  it('move() and transferList: the same values, the same buffers detached', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('move.js') });
      const buf = new Uint8Array([5, 6]).buffer;
      const out = await pool.run(Impl.move(buf), { name: 'roundtrip' });
      const view = new Uint8Array(4);
      const len = await pool.run(view, { name: 'length', transferList: [view.buffer] });
      // (The fixture moves its result with our move(), which piscina's
      // threads do not know: only the way in is compared.)
      return [typeof out, buf.byteLength, len, view.byteLength];
    });
  });

  it('bad options: the same error class and message', () => {
    const bad = [
      { filename: 5 }, { name: 5 }, { minThreads: -1 }, { minThreads: 'x' }, { maxThreads: 0 },
      { minThreads: 4, maxThreads: 2 }, { idleTimeout: -1 }, { maxQueue: -1 }, { maxQueue: 'x' },
      { concurrentTasksPerWorker: 0 }, { resourceLimits: 1 }, { taskQueue: {} }, { niceIncrement: -1 },
      { trackUnmanagedFds: 1 }, { closeTimeout: -1 }, { loadBalancer: 1 }, { workerHistogram: 1 },
    ];
    for (const options of bad) {
      const seen = {};
      for (const [name, Impl] of Object.entries(IMPLS)) {
        try {
          make(Impl, options);
          seen[name] = null;
        } catch (err) {
          seen[name] = { type: err.constructor.name, message: err.message };
        }
      }
      assert.deepStrictEqual(seen.ours, seen.piscina, JSON.stringify(options));
      assert.notStrictEqual(seen.ours, null, JSON.stringify(options));
    }
  });

  it('bad run() and close() arguments: the same rejection', async () => {
    await same(async (Impl) => {
      const pool = make(Impl, { filename: F('echo.js') });
      return [
        await outcome(pool.run(1, null)),
        await outcome(pool.run(1, { transferList: 1 })),
        await outcome(pool.run(1, { filename: 1 })),
        await outcome(pool.run(1, { name: 1 })),
        await outcome(pool.close({ force: 1 })),
        await outcome(make(Impl, {}).run(1)),
      ];
    });
  });

  it('the same statics, getters, histogram fields and option names', async () => {
    for (const key of Object.getOwnPropertyNames(Piscina)) {
      if (['length', 'name', 'prototype'].includes(key)) continue;
      assert.ok(key in Pool, `static ${key}`);
    }
    for (const key of Object.getOwnPropertyNames(Piscina.prototype)) {
      assert.ok(key in Pool.prototype, `prototype ${key}`);
    }
    assert.strictEqual(Pool.transferableSymbol, Piscina.transferableSymbol);
    assert.strictEqual(Pool.valueSymbol, Piscina.valueSymbol);
    assert.strictEqual(Pool.queueOptionsSymbol, Piscina.queueOptionsSymbol);
    const shapes = {};
    for (const [name, Impl] of Object.entries(IMPLS)) {
      const pool = make(Impl, { filename: F('echo.js') });
      await pool.run(1);
      shapes[name] = {
        runTime: Object.keys(pool.histogram.runTime).sort(),
        waitTime: Object.keys(pool.histogram.waitTime).sort(),
        options: Object.keys(pool.options).filter((k) => k !== 'runtime').sort(),
        getters: ['threads', 'queueSize', 'completed', 'duration', 'utilization', 'needsDrain', 'idleThreads']
          .map((k) => typeof pool[k]),
      };
    }
    assert.deepStrictEqual(shapes.ours, shapes.piscina);
  });
});
