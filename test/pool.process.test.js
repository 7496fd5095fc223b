'use strict';

// runtime: 'process': the same pool over child processes started with the
// package's fork(), tasks and results on its shared-memory channel.

const assert = require('assert');
const path = require('path');
const { once } = require('events');
const Pool = require('../lib/pool');

const F = (name) => path.join(__dirname, 'fixtures', 'pool', name);

const pools = [];
function make(options) {
  const pool = new Pool({ runtime: 'process', ...options });
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

describe("pool, runtime: 'process'", () => {
  it('runs CJS, ESM and named tasks in child processes', async () => {
    const pool = make({ filename: F('named.js'), minThreads: 1, maxThreads: 2 });
    assert.strictEqual(pool.options.runtime, 'process');
    assert.strictEqual(await pool.run({ a: 2, b: 5 }, { name: 'mul' }), 10);
    assert.strictEqual(await pool.run(4, { filename: F('esm.mjs') }), 8);
    assert.strictEqual(await pool.run({ ms: 5, value: 'v' }, { filename: F('async.js') }), 'v');
    const got = await Promise.all(Array.from({ length: 2000 }, (_, i) => pool.run({ a: i, b: i }, { name: 'add' })));
    got.forEach((v, i) => assert.strictEqual(v, 2 * i));
    const child = pool.threads[0];
    assert.strictEqual(typeof child.pid, 'number');
    assert.notStrictEqual(child.pid, process.pid);
  });

  it('inside the task: isWorkerThread, workerData, argv and env', async () => {
    const pool = make({ filename: F('info.js'), workerData: { d: [1, 2] }, argv: ['x'], env: { ...process.env, NW_POOL_TEST: 'proc' } });
    const got = await pool.run(null);
    assert.strictEqual(got.isWorkerThread, true);
    assert.deepStrictEqual(got.workerData, { d: [1, 2] });
    assert.strictEqual(got.isMainThread, true);
    assert.deepStrictEqual(got.argv, ['x']);
    assert.strictEqual(got.env, 'proc');
  });

  it('a task error keeps its class, message and code', async () => {
    const pool = make({ filename: F('throw.js') });
    await assert.rejects(pool.run('m', { name: 'sync' }), (e) => e instanceof TypeError && e.message === 'm' && e.code === 'E_TASK');
  });

  it('a process that exits rejects its task at once and is replaced', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 2, maxThreads: 2 });
    assert.strictEqual(await pool.run(1, { name: 'ok' }), 1);
    const destroyed = once(pool, 'workerDestroy');
    await assert.rejects(pool.run(9, { name: 'exit' }), { code: 'ERR_POOL_WORKER_EXITED', message: 'worker exited with code: 9' });
    await destroyed;
    assert.strictEqual(pool.threads.length, 2);
    assert.strictEqual(await pool.run('again', { name: 'ok' }), 'again');
  });

  it('aborting a running task kills its process; close() ends the rest', async () => {
    const pool = make({ filename: F('crash.js'), minThreads: 1, maxThreads: 1 });
    const ac = new AbortController();
    const p = pool.run(null, { name: 'hang', signal: ac.signal });
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    assert.strictEqual(await pool.run(3, { name: 'ok' }), 3);
    await pool.close();
    assert.strictEqual(pool.threads.length, 0);
  });

  it('idle processes do not keep the parent alive', () => {
    const { execFileSync } = require('child_process');
    const script = `
      const Pool = require(${JSON.stringify(require.resolve('../lib/pool'))});
      const pool = new Pool({ runtime: 'process', filename: ${JSON.stringify(F('add.js'))}, minThreads: 2 });
      pool.run({ a: 20, b: 22 }).then((v) => console.log(v));
    `;
    const out = execFileSync(process.execPath, ['-e', script], { timeout: 30000 }).toString();
    assert.strictEqual(out.trim(), '42');
  });
});
