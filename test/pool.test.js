'use strict';

// native-workers/pool: piscina's API over the package's channel. Every pool
// made here is destroyed after its test, so a failure never leaves threads
// behind.

const assert = require('assert');
const path = require('path');
const { pathToFileURL } = require('url');
const { once } = require('events');
const Pool = require('../lib/pool');

const F = (name) => path.join(__dirname, 'fixtures', 'pool', name);

const pools = [];
function make(options) {
  const pool = new Pool(options);
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

async function rejects(promise, check) {
  let err = null;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.notStrictEqual(err, null, 'expected a rejection');
  if (typeof check === 'function') check(err);
  else assert.strictEqual(err.code, check, `${err.code}: ${err.message}`);
  return err;
}

describe('pool: exports', () => {
  it('the class is the module, its default, Piscina and Pool', () => {
    assert.strictEqual(typeof Pool, 'function');
    assert.strictEqual(Pool.default, Pool);
    assert.strictEqual(Pool.Piscina, Pool);
    assert.strictEqual(Pool.Pool, Pool);
    assert.strictEqual(Pool.version, require('../package.json').version);
    assert.strictEqual(Pool.isWorkerThread, false);
    assert.strictEqual(Pool.workerData, undefined);
    assert.strictEqual(typeof Pool.move, 'function');
    assert.strictEqual(typeof Pool.FixedQueue, 'function');
    assert.strictEqual(typeof Pool.ArrayTaskQueue, 'function');
  });

  it("the symbols are piscina's registered ones", () => {
    assert.strictEqual(Pool.transferableSymbol, Symbol.for('Piscina.transferable'));
    assert.strictEqual(Pool.valueSymbol, Symbol.for('Piscina.valueOf'));
    assert.strictEqual(Pool.queueOptionsSymbol, Symbol.for('Piscina.queueOptions'));
  });

  it('is reachable as native-workers/pool, CommonJS and ESM', async () => {
    assert.strictEqual(require('native-workers/pool'), Pool);
    const esm = await import('native-workers/pool');
    assert.strictEqual(esm.default, Pool);
    assert.strictEqual(esm.Piscina, Pool);
    assert.strictEqual(esm.move, Pool.move);
    assert.strictEqual(esm.isWorkerThread, false);
  });
});

describe('pool: running tasks', () => {
  it('runs a CommonJS task and gives its result', async () => {
    const pool = make({ filename: F('add.js') });
    assert.strictEqual(await pool.run({ a: 2, b: 3 }), 5);
    assert.strictEqual(pool.completed, 1);
  });

  it('many tasks at once, every result matched to its task', async () => {
    const pool = make({ filename: F('echo.js'), maxThreads: 2 });
    const n = 5000;
    const got = await Promise.all(Array.from({ length: n }, (_, i) => pool.run({ i, s: `v${i}` })));
    for (let i = 0; i < n; i++) assert.deepStrictEqual(got[i], { i, s: `v${i}` });
    assert.strictEqual(pool.completed, n);
  });

  it('values keep their types across (Map, Date, BigInt, typed arrays, nested)', async () => {
    const pool = make({ filename: F('echo.js') });
    const v = {
      m: new Map([[1, 'a']]), d: new Date(5), b: 2n ** 70n, f: new Float64Array([1.5, -2]),
      nested: [{ x: null, y: undefined, z: [1, 'two'] }], s: new Set(['q']), buf: Buffer.from('hi'),
    };
    const got = await pool.run(v);
    assert.deepStrictEqual(got.m, v.m);
    assert.deepStrictEqual(got.d, v.d);
    assert.strictEqual(got.b, v.b);
    assert.deepStrictEqual(Array.from(got.f), [1.5, -2]);
    assert.deepStrictEqual(got.nested, v.nested);
    assert.deepStrictEqual(got.s, v.s);
    assert.deepStrictEqual(Buffer.from(got.buf), Buffer.from('hi'));
  });

  it('named task functions: the name option of run() and of the pool', async () => {
    const pool = make({ filename: F('named.js') });
    assert.strictEqual(await pool.run({ a: 3, b: 4 }, { name: 'add' }), 7);
    assert.strictEqual(await pool.run({ a: 3, b: 4 }, { name: 'mul' }), 12);
    assert.strictEqual(await pool.run('x'), 'default:x');
    const named = make({ filename: F('named.js'), name: 'mul' });
    assert.strictEqual(await named.run({ a: 5, b: 6 }), 30);
  });

  it('ESM task files: default and named exports, top-level await', async () => {
    const pool = make({ filename: F('esm.mjs') });
    assert.strictEqual(await pool.run(21), 42);
    assert.strictEqual(await pool.run(5, { name: 'triple' }), 15);
    assert.strictEqual(await pool.run(1, { filename: F('tla.mjs') }), 101);
  });

  it('async task functions, and a module that exports a promise of one', async () => {
    const pool = make({ filename: F('async.js') });
    assert.strictEqual(await pool.run({ ms: 10, value: 'later' }), 'later');
    assert.strictEqual(await pool.run('p', { filename: F('promise-export.js') }), 'late:p');
  });

  it('async tasks run side by side with concurrentTasksPerWorker', async () => {
    const pool = make({ filename: F('async.js'), minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 4 });
    const most = await Promise.all([1, 2, 3, 4].map(() => pool.run(null, { filename: F('concurrency.js') })));
    assert.strictEqual(Math.max(...most), 4);
    const got = await Promise.all([1, 2, 3, 4].map((value) => pool.run({ ms: 20, value })));
    assert.deepStrictEqual(got, [1, 2, 3, 4]);
    assert.strictEqual(pool.threads.length, 1);
  });

  it('a thread runs at most concurrentTasksPerWorker tasks at once, even with tasks handed ahead', async () => {
    for (const C of [1, 3]) {
      const pool = make({ filename: F('concurrency.js'), minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: C });
      for (let round = 0; round < 3; round++) {
        const most = await Promise.all(Array.from({ length: 2000 }, () => pool.run(null)));
        assert.strictEqual(Math.max(...most), C);
      }
    }
  });

  it('filename as a file: URL string or URL object, in the pool and in run()', async () => {
    const url = pathToFileURL(F('add.js'));
    const pool = make({ filename: url.href });
    assert.strictEqual(pool.options.filename, F('add.js'));
    assert.strictEqual(await pool.run({ a: 1, b: 1 }), 2);
    const pool2 = make({ filename: url });
    assert.strictEqual(await pool2.run({ a: 1, b: 2 }), 3);
    const pool3 = make({});
    assert.strictEqual(await pool3.run(4, { filename: pathToFileURL(F('esm.mjs')).href }), 8);
    assert.strictEqual(await pool3.run(4, { filename: F('echo.js') }), 4);
  });

  it('a relative filename is taken from the working directory', async () => {
    const rel = path.relative(process.cwd(), F('add.js'));
    const pool = make({ filename: `.${path.sep}${rel}` });
    assert.strictEqual(await pool.run({ a: 1, b: 5 }), 6);
  });

  it('run() hands the task to a thread before it returns', async () => {
    const pool = make({ filename: F('wait.js'), minThreads: 0, maxThreads: 1 });
    const sab = new SharedArrayBuffer(4);
    const p = pool.run(sab);
    // This thread blocks at once; only a task already handed over can
    // wake it.
    const r = Atomics.wait(new Int32Array(sab), 0, 0, 20000);
    assert.notStrictEqual(r, 'timed-out');
    assert.strictEqual(await p, 'signalled');
  });

  it('inside a task: isWorkerThread, workerData, and the Worker options', async () => {
    const pool = make({
      filename: F('info.js'), workerData: { hello: ['world'] }, argv: ['a1'], env: { NW_POOL_TEST: 'yes' },
    });
    const got = await pool.run(null);
    assert.strictEqual(got.isWorkerThread, true);
    assert.strictEqual(got.staticIsWorkerThread, true);
    assert.deepStrictEqual(got.workerData, { hello: ['world'] });
    assert.deepStrictEqual(got.nodeWorkerData, { hello: ['world'] });
    assert.strictEqual(got.isMainThread, false);
    assert.deepStrictEqual(got.argv, ['a1']);
    assert.strictEqual(got.env, 'yes');
    const esm = await pool.run(null, { filename: F('info.mjs') });
    assert.deepStrictEqual(esm, { isWorkerThread: true, workerData: { hello: ['world'] } });
  });

  it('move() and transferList: buffers are transferred both ways', async () => {
    const pool = make({ filename: F('move.js') });
    const buf = new Uint8Array([1, 2, 3]).buffer;
    const out = await pool.run(Pool.move(buf), { name: 'roundtrip' });
    assert.strictEqual(buf.byteLength, 0, 'the ArrayBuffer was transferred');
    assert.deepStrictEqual(Array.from(out), [2, 3, 4]);
    const view = new Uint8Array(16);
    assert.strictEqual(await pool.run(view, { name: 'length', transferList: [view.buffer] }), 16);
    assert.strictEqual(view.byteLength, 0);
    const moved = Pool.move(new Uint8Array(8));
    assert.strictEqual(moved[Pool.valueSymbol].byteLength, 8);
    assert.ok(moved[Pool.transferableSymbol] instanceof ArrayBuffer);
    assert.strictEqual(await pool.run(moved, { name: 'length' }), 8);
    assert.strictEqual(Pool.move(5), 5);
  });

  it("a task's parentPort messages are the pool's 'message' events", async () => {
    const pool = make({ filename: F('message.js') });
    const got = once(pool, 'message');
    assert.strictEqual(await pool.run(9), 9);
    assert.deepStrictEqual((await got)[0], { from: 'task', x: 9 });
  });

  it('idle threads do not keep the process alive; a pending task does', async () => {
    const { execFileSync } = require('child_process');
    const script = `
      const Pool = require(${JSON.stringify(require.resolve('../lib/pool'))});
      const pool = new Pool({ filename: ${JSON.stringify(F('async.js'))}, minThreads: 2 });
      pool.run({ ms: 200, value: 'done' }).then((v) => console.log(v));
    `;
    const out = execFileSync(process.execPath, ['-e', script], { timeout: 30000 }).toString();
    assert.strictEqual(out.trim(), 'done');
  });
});

describe('pool: errors from tasks', () => {
  it('a task that throws rejects with its error, own properties kept', async () => {
    const pool = make({ filename: F('throw.js') });
    const err = await rejects(pool.run('bad', { name: 'sync' }), 'E_TASK');
    assert.ok(err instanceof TypeError);
    assert.strictEqual(err.message, 'bad');
    assert.deepStrictEqual(err.detail, { n: 1 });
    const err2 = await rejects(pool.run('worse', { name: 'rejects' }), (e) => assert.ok(e instanceof RangeError));
    assert.strictEqual(err2.message, 'worse');
    await rejects(pool.run(null, { name: 'value' }), (e) => assert.strictEqual(e, 'a string'));
    await rejects(pool.run(null, { name: 'fn' }), (e) => assert.strictEqual(e.name, 'DataCloneError'));
    // The thread is still there and well.
    assert.strictEqual(await pool.run('ok', { filename: F('echo.js') }), 'ok');
    assert.strictEqual(pool.threads.length >= 1, true);
  });

  it('a task that cannot be cloned rejects at once', async () => {
    const pool = make({ filename: F('echo.js') });
    await rejects(pool.run(() => 1), (e) => assert.strictEqual(e.name, 'DataCloneError'));
    assert.strictEqual(await pool.run(1), 1);
  });

  it('a missing handler, a missing file, a syntax error: the task rejects, nothing hangs', async () => {
    const pool = make({ filename: F('named.js') });
    await rejects(pool.run(1, { name: 'nope' }), 'ERR_POOL_NO_HANDLER');
    await rejects(pool.run(1, { filename: F('not-a-function.js') }), 'ERR_POOL_NO_HANDLER');
    await rejects(pool.run(1, { filename: F('does-not-exist.js') }), 'MODULE_NOT_FOUND');
    await rejects(pool.run(1, { filename: F('syntax-error.js') }), (e) => assert.strictEqual(e.name, 'SyntaxError'));
    assert.strictEqual(await pool.run({ a: 1, b: 1 }, { name: 'add' }), 2);
  });

  it('no filename anywhere: ERR_POOL_NO_FILENAME', async () => {
    const pool = make({});
    const err = await rejects(pool.run(1), 'ERR_POOL_NO_FILENAME');
    assert.strictEqual(err.message, 'filename must be provided to run() or in options object');
  });
});

describe('pool: threads that die', () => {
  it('process.exit() in a task rejects it at once, and the pool refills', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 2, maxThreads: 2 });
    const destroyed = once(pool, 'workerDestroy');
    const err = await rejects(pool.run(3, { name: 'exit' }), 'ERR_POOL_WORKER_EXITED');
    assert.strictEqual(err.message, 'worker exited with code: 3');
    await destroyed;
    assert.strictEqual(pool.threads.length, 2);
    assert.strictEqual(await pool.run('alive', { name: 'ok' }), 'alive');
  });

  it('an uncaught exception rejects every task of that thread with it', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 3 });
    const hang1 = pool.run(null, { name: 'hang' });
    const hang2 = pool.run(null, { name: 'hang' });
    const boom = pool.run('boom', { name: 'uncaught' });
    for (const r of await Promise.allSettled([hang1, hang2, boom])) {
      assert.strictEqual(r.status, 'rejected');
      assert.strictEqual(r.reason.message, 'boom');
    }
    assert.strictEqual(await pool.run('after', { name: 'ok' }), 'after');
  });

  it('out of memory under resourceLimits: ERR_WORKER_OUT_OF_MEMORY, then the pool goes on', async function () {
    this.timeout(60000);
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1, resourceLimits: { maxOldGenerationSizeMb: 16 } });
    await rejects(pool.run(null, { name: 'oom' }), 'ERR_WORKER_OUT_OF_MEMORY');
    assert.strictEqual(await pool.run(1, { name: 'ok' }), 1);
  });

  it('a thread killed by terminate() from outside rejects its task', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
    const p = pool.run(null, { name: 'hang' });
    await new Promise((r) => setTimeout(r, 50));
    pool.threads[0].terminate();
    await rejects(p, 'ERR_POOL_WORKER_EXITED');
    assert.strictEqual(await pool.run(2, { name: 'ok' }), 2);
  });

  it('a task file that exits while loading: tasks reject, no endless respawn', async () => {
    const pool = make({ filename: F('boot-exit.js'), minThreads: 1, maxThreads: 2 });
    await rejects(pool.run(1), 'ERR_POOL_WORKER_EXITED');
    await rejects(pool.run(2), 'ERR_POOL_WORKER_EXITED');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(pool.threads.length <= 1, `${pool.threads.length} threads`);
  });

  it("a thread that dies with no task emits 'error' on the pool", async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
    assert.strictEqual(await pool.run(1, { name: 'ok' }), 1);
    const errored = once(pool, 'error');
    // Kill it from inside with an exception that outlives its task.
    await pool.run(`setTimeout(() => { throw new Error('later') }, 20)`, { filename: 'data:text/javascript,export default (s) => { eval(s); return 0 }' });
    const [err] = await errored;
    assert.strictEqual(err.message, 'later');
  });

  // A thread of short tasks is handed many at once (see core.js). When one
  // of them kills it, only that one fails: those finished before it keep
  // their results, those after it run on the next thread, in order.
  for (const runtime of ['thread', 'process']) {
    for (const how of ['exit', 'uncaught']) {
      it(`${runtime}: a task that kills its thread (${how}) fails alone; the tasks handed along with it run`, async function () {
        this.timeout(30000);
        const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1, runtime });
        // Short tasks first, so that the thread is handed many at once.
        await Promise.all(Array.from({ length: 300 }, (_, i) => pool.run(i, { name: 'ok' })));
        const created = [];
        pool.on('workerCreate', (w) => created.push(w.id));
        const before = Array.from({ length: 40 }, (_, i) => pool.run(i, { name: 'ok' }));
        const crash = pool.run(how === 'exit' ? 7 : `boom ${runtime}`, { name: how });
        const order = [];
        const after = Array.from({ length: 200 }, (_, i) => pool.run(i, { name: 'ok' }).then((v) => { order.push(v); return v; }));
        const died = await crash.then(() => null, (e) => e);
        assert.ok(died instanceof Error, 'the crashing task rejects');
        if (how === 'exit' || runtime === 'process') assert.strictEqual(died.code, 'ERR_POOL_WORKER_EXITED');
        else assert.strictEqual(died.message, `boom ${runtime}`);
        assert.deepStrictEqual(await Promise.all(before), before.map((_, i) => i));
        assert.deepStrictEqual(await Promise.all(after), after.map((_, i) => i));
        assert.deepStrictEqual(order, after.map((_, i) => i), 'the tasks handed back keep their order');
        assert.strictEqual(created.length, 1, 'one replacement');
        const s = pool.stats;
        assert.deepStrictEqual([s.completed, s.failed, s.cancelled, s.queued, s.running], [300 + 40 + 200, 1, 0, 0, 0]);
      });
    }
  }

  it('a thread killed from outside: its running task fails, those it held run elsewhere', async function () {
    this.timeout(30000);
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 1 });
    await Promise.all(Array.from({ length: 300 }, (_, i) => pool.run(i, { name: 'ok' })));
    const hung = pool.run(null, { name: 'hang' });
    const held = Array.from({ length: 50 }, (_, i) => pool.run(i, { name: 'ok' }));
    await new Promise((r) => setTimeout(r, 50));
    pool.threads[0].terminate();
    await rejects(hung, 'ERR_POOL_WORKER_EXITED');
    assert.deepStrictEqual(await Promise.all(held), held.map((_, i) => i));
  });

  it('a process killed with SIGKILL says nothing: everything it held fails, none is lost', async function () {
    this.timeout(30000);
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1, runtime: 'process' });
    await Promise.all(Array.from({ length: 300 }, (_, i) => pool.run(i, { name: 'ok' })));
    const hung = pool.run(null, { name: 'hang' });
    const held = Array.from({ length: 50 }, (_, i) => pool.run(i, { name: 'ok' }));
    await new Promise((r) => setTimeout(r, 50));
    process.kill(pool.threads[0].pid, 'SIGKILL');
    await rejects(hung, 'ERR_POOL_WORKER_EXITED');
    const got = await Promise.allSettled(held);
    for (let i = 0; i < got.length; i++) {
      if (got[i].status === 'fulfilled') assert.strictEqual(got[i].value, i);
      else assert.strictEqual(got[i].reason.code, 'ERR_POOL_WORKER_EXITED');
    }
    assert.strictEqual(await pool.run('after', { name: 'ok' }), 'after');
  });
});

describe('pool: abort', () => {
  it('an already aborted signal rejects at once with AbortError', async () => {
    const pool = make({ filename: F('echo.js') });
    const ac = new AbortController();
    ac.abort('why');
    const err = await rejects(pool.run(1, { signal: ac.signal }), 'ABORT_ERR');
    assert.strictEqual(err.name, 'AbortError');
    assert.strictEqual(err.message, 'The task has been aborted');
    assert.strictEqual(err.cause, 'why');
  });

  it('aborting a queued task takes it out of the queue', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
    const running = pool.run(300, { name: 'spin' });
    const ac = new AbortController();
    const queued = pool.run('never', { name: 'ok', signal: ac.signal });
    assert.strictEqual(pool.queueSize, 1);
    ac.abort();
    await rejects(queued, 'ABORT_ERR');
    assert.strictEqual(pool.queueSize, 0);
    assert.strictEqual(await running, 'spun');
  });

  it('aborting a running task ends its thread; the pool stays full', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 2, maxThreads: 2 });
    const ac = new AbortController();
    const p = pool.run(null, { name: 'hang', signal: ac.signal });
    await new Promise((r) => setTimeout(r, 50));
    const destroyed = once(pool, 'workerDestroy');
    ac.abort(new Error('stop'));
    const err = await rejects(p, 'ABORT_ERR');
    assert.strictEqual(err.cause.message, 'stop');
    await destroyed;
    assert.strictEqual(pool.threads.length, 2);
    assert.strictEqual(await pool.run(5, { name: 'ok' }), 5);
  });

  it('an EventEmitter-style signal is refused with a code', async () => {
    const pool = make({ filename: F('echo.js') });
    await rejects(pool.run(1, { signal: {} }), 'ERR_INVALID_ARG_TYPE');
  });
});

describe('pool: close and destroy', () => {
  it('close() lets running and queued tasks finish, then ends every thread', async () => {
    const pool = make({ filename: F('async.js'), minThreads: 1, maxThreads: 1 });
    const ps = [1, 2, 3].map((value) => pool.run({ ms: 30, value }));
    const closed = once(pool, 'close');
    await pool.close();
    await closed;
    assert.deepStrictEqual(await Promise.all(ps), [1, 2, 3]);
    assert.strictEqual(pool.threads.length, 0);
    const err = await rejects(pool.run({ ms: 0, value: 0 }), 'ERR_POOL_CLOSED');
    assert.strictEqual(err.name, 'AbortError');
  });

  it('close({ force: true }) rejects queued tasks and finishes running ones', async () => {
    const pool = make({ filename: F('async.js'), minThreads: 1, maxThreads: 1 });
    const running = pool.run({ ms: 50, value: 'ran' });
    const queued = pool.run({ ms: 0, value: 'queued' });
    const closing = pool.close({ force: true });
    await rejects(queued, (e) => {
      assert.strictEqual(e.code, 'ERR_POOL_CLOSED');
      assert.strictEqual(e.name, 'AbortError');
    });
    assert.strictEqual(await running, 'ran');
    await closing;
  });

  it('run() while closing rejects with ERR_POOL_CLOSED', async () => {
    const pool = make({ filename: F('echo.js') });
    const closing = pool.close();
    await rejects(pool.run(1), 'ERR_POOL_CLOSED');
    await closing;
  });

  it("closeTimeout: close() emits 'error' and then terminates what still runs", async () => {
    const pool = make({ filename: F('crash.js'), closeTimeout: 100 });
    const hung = pool.run(null, { name: 'hang' });
    const errored = once(pool, 'error');
    await pool.close();
    assert.strictEqual((await errored)[0].code, 'ERR_POOL_CLOSE_TIMEOUT');
    await rejects(hung, 'ERR_POOL_TERMINATED');
  });

  it('destroy() rejects queued and running tasks with ERR_POOL_TERMINATED', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
    const running = pool.run(null, { name: 'hang' });
    const queued = pool.run(1, { name: 'ok' });
    const settled = Promise.allSettled([running, queued]);
    await pool.destroy();
    for (const r of await settled) {
      assert.strictEqual(r.status, 'rejected');
      assert.strictEqual(r.reason.code, 'ERR_POOL_TERMINATED');
      assert.strictEqual(r.reason.message, 'Terminating worker thread');
    }
    assert.strictEqual(pool.threads.length, 0);
  });

  it('Symbol.asyncDispose closes; Symbol.dispose starts closing', async () => {
    const pool = make({ filename: F('echo.js') });
    assert.strictEqual(await pool.run(1), 1);
    await pool[Symbol.asyncDispose]();
    assert.strictEqual(pool.threads.length, 0);
    const pool2 = make({ filename: F('echo.js') });
    const closed = once(pool2, 'close');
    pool2[Symbol.dispose]();
    await closed;
    assert.strictEqual(pool2.threads.length, 0);
  });
});

describe('pool: queue, drain and threads', () => {
  it("maxQueue: a full queue rejects with piscina's message and ERR_POOL_QUEUE_FULL", async () => {
    const pool = make({ filename: F('async.js'), minThreads: 1, maxThreads: 1, maxQueue: 2 });
    const ps = [pool.run({ ms: 50, value: 0 }), pool.run({ ms: 0, value: 1 }), pool.run({ ms: 0, value: 2 })];
    assert.strictEqual(pool.queueSize, 2);
    const err = await rejects(pool.run({ ms: 0, value: 3 }), 'ERR_POOL_QUEUE_FULL');
    assert.strictEqual(err.message, 'Task queue is at limit');
    assert.deepStrictEqual(await Promise.all(ps), [0, 1, 2]);
  });

  it('maxQueue 0: no queue, busy threads reject', async () => {
    const pool = make({ filename: F('async.js'), minThreads: 1, maxThreads: 1, maxQueue: 0 });
    const p = pool.run({ ms: 30, value: 'a' });
    const err = await rejects(pool.run({ ms: 0, value: 'b' }), 'ERR_POOL_QUEUE_FULL');
    assert.strictEqual(err.message, 'No task queue available and all Workers are busy');
    assert.strictEqual(await p, 'a');
  });

  it("maxQueue 'auto' is maxThreads squared", () => {
    const pool = make({ filename: F('echo.js'), minThreads: 0, maxThreads: 3, maxQueue: 'auto' });
    assert.strictEqual(pool.options.maxQueue, 9);
  });

  it("needsDrain goes true at capacity ('needsDrain'), and back ('drain')", async () => {
    const pool = make({ filename: F('async.js'), minThreads: 2, maxThreads: 2 });
    const events = [];
    pool.on('needsDrain', () => events.push('needsDrain'));
    pool.on('drain', () => events.push('drain'));
    assert.strictEqual(pool.needsDrain, false);
    const ps = [pool.run({ ms: 30, value: 1 })];
    assert.strictEqual(pool.needsDrain, false);
    ps.push(pool.run({ ms: 30, value: 2 }));
    assert.strictEqual(pool.needsDrain, true);
    await Promise.all(ps);
    await new Promise((r) => setImmediate(r));
    assert.strictEqual(pool.needsDrain, false);
    assert.deepStrictEqual(events, ['needsDrain', 'drain']);
  });

  it('starts minThreads at once, grows to maxThreads under load, idleTimeout reaps the rest', async () => {
    const pool = make({ filename: F('async.js'), minThreads: 1, maxThreads: 3, idleTimeout: 100 });
    const created = [];
    pool.on('workerCreate', (w) => created.push(w));
    assert.strictEqual(pool.threads.length, 1);
    const ps = [1, 2, 3, 4, 5, 6].map((value) => pool.run({ ms: 40, value }));
    assert.strictEqual(pool.threads.length, 3);
    await Promise.all(ps);
    assert.strictEqual(created.length, 3);
    assert.strictEqual(typeof created[0].id, 'number');
    assert.strictEqual(typeof created[0].currentUsage, 'number');
    const t0 = Date.now();
    while (pool.threads.length > 1 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.strictEqual(pool.threads.length, 1);
    assert.strictEqual(pool.idleThreads, 1);
  });

  it("minThreads/maxThreads adjust to each other as piscina's do", () => {
    const a = make({ filename: F('echo.js'), maxThreads: 1 });
    assert.strictEqual(a.minThreads, 1);
    const b = make({ filename: F('echo.js'), minThreads: 5 });
    assert.strictEqual(b.maxThreads >= 5, true);
  });

  it('a custom taskQueue receives the tasks, with their queueOptions', async () => {
    const seen = [];
    class Q extends Pool.ArrayTaskQueue {
      push(task) { seen.push(task[Pool.queueOptionsSymbol]); super.push(task); }
    }
    const pool = make({ filename: F('echo.js'), minThreads: 1, maxThreads: 1, taskQueue: new Q() });
    const ps = [1, 2, 3].map((i) => pool.run({ i, [Pool.queueOptionsSymbol]: { priority: i } }));
    await Promise.all(ps);
    assert.deepStrictEqual(seen, [{ priority: 2 }, { priority: 3 }]);
  });

  it('a custom loadBalancer chooses the thread', async () => {
    let calls = 0;
    const pool = make({
      filename: F('echo.js'),
      minThreads: 2,
      maxThreads: 2,
      loadBalancer: (task, workers) => { calls++; return workers[workers.length - 1] || null; },
    });
    assert.strictEqual(await pool.run(1), 1);
    assert.ok(calls >= 1);
  });

  it('FixedQueue and ArrayTaskQueue: FIFO with unshift and remove', () => {
    for (const Q of [Pool.FixedQueue, Pool.ArrayTaskQueue]) {
      const q = new Q();
      const items = Array.from({ length: 40 }, (_, i) => ({ i }));
      for (const it of items) q.push(it);
      q.remove(items[5]);
      q.unshift({ i: -1 });
      assert.strictEqual(q.size, 40);
      assert.strictEqual(q.shift().i, -1);
      const rest = [];
      for (let t = q.shift(); t !== null; t = q.shift()) rest.push(t.i);
      assert.deepStrictEqual(rest, items.map((x) => x.i).filter((i) => i !== 5));
      assert.throws(() => q.remove({}), { code: 'ERR_INVALID_ARG_VALUE' });
    }
  });
});

describe('pool: stats', () => {
  it("histogram: piscina's fields in ms, reset; utilization and duration", async () => {
    const pool = make({ filename: F('crash.js') });
    for (let i = 0; i < 5; i++) await pool.run(5, { name: 'spin' });
    const { runTime, waitTime } = pool.histogram;
    for (const h of [runTime, waitTime]) {
      for (const k of ['average', 'mean', 'stddev', 'min', 'max', 'p0_001', 'p0_01', 'p0_1', 'p1', 'p2_5',
        'p10', 'p25', 'p50', 'p75', 'p90', 'p97_5', 'p99', 'p99_9', 'p99_99', 'p99_999']) {
        assert.strictEqual(typeof h[k], 'number', k);
      }
    }
    assert.ok(runTime.p50 >= 4 && runTime.p50 < 1000, String(runTime.p50));
    assert.ok(pool.utilization > 0 && pool.utilization <= 1, String(pool.utilization));
    assert.ok(pool.duration > 0);
    assert.strictEqual(pool.completed, 5);
    pool.histogram.resetRunTime();
    pool.histogram.resetWaitTime();
    assert.strictEqual(pool.histogram.runTime.max, 0);
  });

  it('workerHistogram: each thread reports its own run times', async () => {
    const pool = make({ filename: F('crash.js'), workerHistogram: true, minThreads: 1, maxThreads: 1 });
    let info = null;
    pool.on('workerCreate', (w) => { info = w; });
    await pool.run(3, { name: 'spin' });
    assert.ok(info.histogram.max >= 2, JSON.stringify(info.histogram));
  });

  it('recordTiming: false gives no histograms and utilization 0', async () => {
    const pool = make({ filename: F('echo.js'), recordTiming: false });
    await pool.run(1);
    assert.strictEqual(pool.histogram.runTime, undefined);
    assert.strictEqual(pool.utilization, 0);
  });

  it('options are filled with the defaults and read from own properties only', () => {
    Object.prototype.maxThreads = 99; // eslint-disable-line no-extend-native
    try {
      const pool = make({ filename: F('echo.js') });
      assert.notStrictEqual(pool.options.maxThreads, 99);
      assert.strictEqual(pool.options.name, 'default');
      assert.strictEqual(pool.options.idleTimeout, 0);
      assert.strictEqual(pool.options.maxQueue, Infinity);
      assert.strictEqual(pool.options.concurrentTasksPerWorker, 1);
      assert.strictEqual(pool.options.closeTimeout, 30000);
      assert.strictEqual(pool.options.recordTiming, true);
    } finally {
      delete Object.prototype.maxThreads;
    }
  });
});

describe('pool: bad input, with codes, and never a hang', () => {
  it('every option refuses a wrong type or value with a stable code', () => {
    const cases = [
      [null, 'ERR_INVALID_ARG_TYPE'], [5, 'ERR_INVALID_ARG_TYPE'],
      [{ filename: 5 }, 'ERR_INVALID_ARG_TYPE'], [{ name: {} }, 'ERR_INVALID_ARG_TYPE'],
      [{ minThreads: '1' }, 'ERR_INVALID_ARG_TYPE'], [{ minThreads: -1 }, 'ERR_INVALID_ARG_VALUE'],
      [{ minThreads: NaN }, 'ERR_INVALID_ARG_VALUE'], [{ maxThreads: 0 }, 'ERR_INVALID_ARG_VALUE'],
      [{ maxThreads: NaN }, 'ERR_INVALID_ARG_VALUE'], [{ minThreads: 3, maxThreads: 2 }, 'ERR_OUT_OF_RANGE'],
      [{ idleTimeout: -5 }, 'ERR_INVALID_ARG_VALUE'], [{ idleTimeout: 'x' }, 'ERR_INVALID_ARG_TYPE'],
      [{ maxQueue: 'big' }, 'ERR_INVALID_ARG_TYPE'], [{ maxQueue: -1 }, 'ERR_INVALID_ARG_VALUE'],
      [{ concurrentTasksPerWorker: 0 }, 'ERR_INVALID_ARG_VALUE'], [{ atomics: 'maybe' }, 'ERR_INVALID_ARG_VALUE'],
      [{ resourceLimits: 'lots' }, 'ERR_INVALID_ARG_TYPE'], [{ taskQueue: [] }, 'ERR_INVALID_ARG_TYPE'],
      [{ niceIncrement: -1 }, 'ERR_INVALID_ARG_VALUE'], [{ trackUnmanagedFds: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
      [{ closeTimeout: -1 }, 'ERR_INVALID_ARG_VALUE'], [{ loadBalancer: () => null }, 'ERR_INVALID_ARG_TYPE'],
      [{ recordTiming: 1 }, 'ERR_INVALID_ARG_TYPE'], [{ workerHistogram: 'no' }, 'ERR_INVALID_ARG_TYPE'],
      [{ argv: 'a b' }, 'ERR_INVALID_ARG_TYPE'], [{ execArgv: '--x' }, 'ERR_INVALID_ARG_TYPE'],
      [{ runtime: 'fiber' }, 'ERR_INVALID_ARG_VALUE'], [{ runtime: 'child_process' }, 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [options, code] of cases) {
      assert.throws(() => make(options), (err) => {
        assert.strictEqual(err.code, code, `${require('util').inspect(options)}: ${err.code} ${err.message}`);
        assert.ok(err instanceof TypeError || err instanceof RangeError);
        return true;
      });
    }
    assert.strictEqual(pools.length, 0);
  });

  it('bad run() and close() arguments reject (never throw) with codes', async () => {
    const pool = make({ filename: F('echo.js') });
    await rejects(pool.run(1, null), 'ERR_INVALID_ARG_TYPE');
    await rejects(pool.run(1, 'opts'), 'ERR_INVALID_ARG_TYPE');
    await rejects(pool.run(1, { transferList: 'x' }), 'ERR_INVALID_ARG_TYPE');
    await rejects(pool.run(1, { filename: 42 }), 'ERR_INVALID_ARG_TYPE');
    await rejects(pool.run(1, { name: 42 }), 'ERR_INVALID_ARG_TYPE');
    await rejects(pool.run(1, { signal: 'stop' }), 'ERR_INVALID_ARG_TYPE');
    await rejects(pool.close(null), 'ERR_INVALID_ARG_TYPE');
    await rejects(pool.close({ force: 'yes' }), 'ERR_INVALID_ARG_TYPE');
    // A transferList naming something that cannot be transferred.
    await rejects(pool.run(1, { transferList: [{}] }), (e) => assert.ok(e instanceof Error || e instanceof DOMException));
    assert.strictEqual(await pool.run('still fine'), 'still fine');
  });

  it('a task whose thread never answers is ended by destroy(), not left pending', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
    const hung = pool.run(null, { name: 'hang' });
    const settled = hung.then(() => 'resolved', (e) => e.code);
    await pool.destroy();
    assert.strictEqual(await settled, 'ERR_POOL_TERMINATED');
  });

  it('many crashes in a row: every task settles, the pool stays at minThreads', async function () {
    this.timeout(120000);
    const pool = make({ filename: F('crash.js'), minThreads: 2, maxThreads: 2 });
    const n = process.env.NW_STRESS ? 500 : 20;
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => (
      i % 2 === 0 ? pool.run(1, { name: 'exit' }) : pool.run(i, { name: 'ok' }))));
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) assert.strictEqual(results[i].status, 'rejected');
      else assert.deepStrictEqual(results[i], { status: 'fulfilled', value: i });
    }
    assert.strictEqual(await pool.run('end', { name: 'ok' }), 'end');
    assert.strictEqual(pool.threads.length, 2);
  });
});
