'use strict';

// native-workers/remote against a real nats-server -js on a loopback port,
// with hosts as real child processes.

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const Pool = require('../lib/pool');
const { serve, RemotePool } = require('../lib/remote');
const { available, startServer, freePort } = require('./support/nats_server');
const { startHost, stopHost } = require('./support/remote_hosts');

const TASK = path.join(__dirname, 'fixtures', 'remote', 'task.js');
const ACK_WAIT = 2000;

describe('native-workers/remote', function () {
  this.timeout(60000);
  let server;
  const hosts = [];
  const pools = [];
  let tmp;

  before(async function () {
    if (!available()) {
      // CI installs it (.ci/run); a developer's machine may not have it.
      if (process.env.CI) throw new Error('nats-server is not installed');
      this.skip();
    }
    server = await startServer();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-remote-'));
  });

  after(async () => {
    await Promise.all(hosts.map(stopHost));
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
    if (server) await server.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  function host(name, extra = {}) {
    const h = startHost({ servers: server.url, name, ackWait: ACK_WAIT, maxThreads: 2, ...extra });
    hosts.push(h);
    return h.ready;
  }

  function remote(name, extra = {}) {
    const p = new RemotePool({ servers: server.url, name, timeout: 20000, ackWait: ACK_WAIT, ...extra });
    pools.push(p);
    return p;
  }

  it('gives the same results as the local pool for the same tasks', async () => {
    await host('same');
    const rp = remote('same');
    const local = new Pool({ filename: TASK, maxThreads: 1 });
    const tasks = [
      [{ op: 'add', a: 2, b: 40 }],
      ['text ✓ \ud800 end'],
      [{ nested: [1, -0, NaN, Infinity, null, undefined, true, { deep: 'x' }], when: new Date(5) }],
      [new Map([[1, 'a']])],
      [new Set([1, 2])],
      [12345678901234567890n],
      [Buffer.from('bytes')],
      [new Float64Array([1.5, -2])],
      [{ ms: 5, v: 'slept' }, { name: 'sleep' }],
      [{ n: 10 }, { name: 'big' }],
    ];
    try {
      for (const [task, opts] of tasks) {
        const want = await local.run(task, opts);
        const got = await rp.run(task, opts);
        assert.deepStrictEqual(got, want);
        assert.strictEqual(Object.getPrototypeOf(got), Object.getPrototypeOf(want));
      }
      const errs = [];
      for (const p of [local, rp]) {
        errs.push(await p.run({ message: 'no', code: 'E_NO' }, { name: 'fail' }).then(() => null, (e) => e));
      }
      assert.strictEqual(errs[1].message, errs[0].message);
      assert.strictEqual(errs[1].name, errs[0].name);
      assert.strictEqual(errs[1].code, 'E_NO');
      assert.ok(errs[1] instanceof Error);
    } finally {
      await local.close();
    }
  });

  it('two hosts share the tasks: both do work, every result comes once', async () => {
    const [a, b] = await Promise.all([host('share'), host('share')]);
    const rp = remote('share');
    const N = 1000;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => rp.run({ i, ms: i % 50 === 0 ? 5 : 0 }, { name: 'pid' })));
    const seen = new Set();
    const pids = new Map();
    for (const [i, r] of results.entries()) {
      assert.strictEqual(r.i, i);
      assert.ok(!seen.has(r.i));
      seen.add(r.i);
      pids.set(r.pid, (pids.get(r.pid) || 0) + 1);
    }
    assert.deepStrictEqual([...pids.keys()].sort(), [a.pid, b.pid].sort());
    assert.strictEqual(rp.completed, N);
    // A task may run twice (a host slower than the ack wait); its second
    // result is dropped.
    assert.ok(rp.stats.duplicates < N / 10, `${rp.stats.duplicates} duplicates`);
    assert.ok(Object.keys(rp.stats.hosts).length === 2);
    assert.strictEqual(rp.queueSize, 0);
  });

  it('a host killed mid-task: the task runs again elsewhere after the ack wait, one result', async () => {
    const [a, b] = await Promise.all([host('kill'), host('kill')]);
    const rp = remote('kill');
    const marker = path.join(tmp, 'killed-once');
    const t0 = Date.now();
    const r = await rp.run({ marker, v: 42 }, { name: 'killOnce' });
    const took = Date.now() - t0;
    const victim = Number(fs.readFileSync(marker, 'utf8'));
    assert.ok([a.pid, b.pid].includes(victim));
    assert.strictEqual(r.v, 42);
    assert.notStrictEqual(r.pid, victim);
    assert.ok(took >= ACK_WAIT - 50, `redelivered after ${took} ms`);
    assert.ok(took <= ACK_WAIT + 1500, `redelivered after ${took} ms`);
    // More tasks still run, on the survivor.
    assert.strictEqual(await rp.run({ op: 'add', a: 1, b: 1 }), 2);
    assert.strictEqual(rp.stats.duplicates, 0);
    assert.strictEqual(rp.completed, 2);
  });

  it('aborts a queued task (it never runs) and a running one (its host stops it)', async () => {
    const rp = remote('abort');
    const marker = path.join(tmp, 'queued-ran');
    const ac = new AbortController();
    const queued = rp.run({ marker, v: 1 }, { name: 'killOnce', signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await assert.rejects(queued, { name: 'AbortError' });
    await host('abort');
    // The host takes the next task, not the aborted one.
    assert.strictEqual(await rp.run('after'), 'after');
    assert.ok(!fs.existsSync(marker), 'the aborted task ran');

    const ac2 = new AbortController();
    const t0 = Date.now();
    const running = rp.run({ ms: 20000, v: 'late' }, { name: 'sleep', signal: ac2.signal });
    await new Promise((r) => setTimeout(r, 500));
    ac2.abort();
    await assert.rejects(running, { name: 'AbortError' });
    assert.ok(Date.now() - t0 < 2000);
    // Both of the host's threads are free again: two slow tasks at once
    // finish in one task's time.
    const t1 = Date.now();
    await Promise.all([rp.run({ ms: 300 }, { name: 'sleep' }), rp.run({ ms: 300 }, { name: 'sleep' })]);
    assert.ok(Date.now() - t1 < 1500);
    await assert.rejects(rp.run(1, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });

  it('no host for a name: the task waits up to timeout, then rejects', async () => {
    const rp = remote('nobody', { timeout: 500 });
    const t0 = Date.now();
    await assert.rejects(rp.run(1), (err) => {
      assert.strictEqual(err.code, 'ERR_REMOTE_TIMEOUT');
      assert.match(err.message, /within 500 ms/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000);
    assert.strictEqual(rp.queueSize, 0);
  });

  it('no server reachable: run() rejects with ERR_REMOTE_UNREACHABLE after timeout', async () => {
    const port = await freePort();
    const rp = new RemotePool({ servers: `nats://127.0.0.1:${port}`, name: 'none', timeout: 700 });
    const t0 = Date.now();
    await assert.rejects(rp.run(1), { code: 'ERR_REMOTE_UNREACHABLE' });
    assert.ok(Date.now() - t0 < 3000);
    await rp.destroy();
  });

  it('payloads over max_payload go through the object store both ways', async () => {
    await host('big');
    const rp = remote('big');
    const input = Buffer.alloc(3 * 1024 * 1024 + 17, 3);
    input[input.length - 1] = 9;
    assert.deepStrictEqual(await rp.run(input, { name: 'size' }), { length: input.length, first: 3, last: 9 });
    const out = await rp.run({ n: 2 * 1024 * 1024 + 5 }, { name: 'big' });
    assert.strictEqual(out.length, 2 * 1024 * 1024 + 5);
    assert.ok(out.every((x) => x === 7));
    const text = 'x'.repeat(1500000);
    assert.strictEqual(await rp.run(text), text);
  });

  it('a task that keeps killing its host ends after maxDeliver attempts, named', async () => {
    const name = 'deadly';
    const keep = { on: true };
    const spawnLoop = async () => {
      while (keep.on) {
        const h = startHost({ servers: server.url, name, ackWait: 500, maxDeliver: 2, maxThreads: 1 });
        hosts.push(h);
        await h.exited;
      }
    };
    const loop = spawnLoop();
    const rp = remote(name, { ackWait: 500, maxDeliver: 2 });
    try {
      await assert.rejects(rp.run(null, { name: 'kill' }), (err) => {
        assert.strictEqual(err.code, 'ERR_REMOTE_MAX_DELIVER');
        assert.match(err.message, /\(kill\)/);
        assert.ok(err.message.includes(err.taskId));
        return true;
      });
    } finally {
      keep.on = false;
      await Promise.all(hosts.map(stopHost));
      await loop;
    }
  });

  it('bad options and arguments throw with stable codes; the pool still works after', async () => {
    assert.throws(() => new RemotePool(), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new RemotePool({ name: 'x', servers: 42 }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new RemotePool({ name: 'x', servers: [] }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new RemotePool({ name: 'x', servers: 'http://127.0.0.1:4222' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new RemotePool({ name: 'x', servers: 'nats://' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new RemotePool({ name: 'x', servers: 'nats://h:99999' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new RemotePool({ servers: server.url }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new RemotePool({ servers: server.url, name: 'a.b' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new RemotePool({ servers: server.url, name: 'a', timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new RemotePool({ servers: server.url, name: 'a', timeout: '1' }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new RemotePool({ servers: server.url, name: 'a', maxDeliver: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new RemotePool({ servers: server.url, name: 'a', storage: 'disk' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new RemotePool({ servers: server.url, name: 'a', user: 5 }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(serve(null), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(serve({ servers: server.url, name: 'a' }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(serve({ servers: server.url, name: '', filename: TASK }), { code: 'ERR_INVALID_ARG_VALUE' });
    await assert.rejects(serve({ servers: server.url, name: 'a', filename: TASK, inflight: 0 }), { code: 'ERR_OUT_OF_RANGE' });

    await host('bad');
    const rp = remote('bad', { maxQueue: 1 });
    await assert.rejects(rp.run(1, null), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(rp.run(1, { name: 3 }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(rp.run(1, { signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(rp.run(1, { filename: '/etc/passwd' }), { code: 'ERR_INVALID_ARG_VALUE' });
    await assert.rejects(rp.run(() => 1), /could not be cloned/);
    await assert.rejects(rp.run(1, { name: 'nope' }), { code: 'ERR_POOL_NO_HANDLER' });
    const first = rp.run({ ms: 200, v: 1 }, { name: 'sleep' });
    await assert.rejects(rp.run(2), { code: 'ERR_POOL_QUEUE_FULL' });
    assert.strictEqual(await first, 1);
    assert.strictEqual(await rp.run('ok'), 'ok');
    await rp.close();
    await assert.rejects(rp.run(1), { code: 'ERR_POOL_CLOSED' });
  });

  it('the server restarts mid-run: callers and hosts reconnect, every task completes once', async () => {
    await Promise.all([host('restart'), host('restart')]);
    const rp = remote('restart', { timeout: 30000 });
    const N = 300;
    const all = Promise.all(Array.from({ length: N }, (_, i) => rp.run({ i, ms: 10 }, { name: 'pid' })));
    await new Promise((r) => setTimeout(r, 400));
    await server.restart();
    const results = await all;
    assert.deepStrictEqual(results.map((r) => r.i), Array.from({ length: N }, (_, i) => i));
    assert.strictEqual(rp.completed, N);
  });

  it('serve() in this process, close() lets running tasks answer first', async () => {
    const h = await serve({ servers: server.url, name: 'inproc', filename: TASK, maxThreads: 1 });
    const rp = remote('inproc');
    const p = rp.run({ ms: 300, v: 'done' }, { name: 'sleep' });
    while (h.stats.running === 0) await new Promise((r) => setTimeout(r, 10));
    await h.close();
    assert.strictEqual(await p, 'done');
    assert.strictEqual(h.stats.completed, 1);
  });

  it('the CLI serves a name (here with runtime: process) and stops cleanly on SIGTERM', async () => {
    const { spawn } = require('child_process');
    const bin = path.join(__dirname, '..', 'bin', 'native-workers.js');
    const child = spawn(process.execPath, [bin, 'serve', '--servers', server.url, '--name', 'cli',
      '--threads', '1', '--runtime', 'process', TASK], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => { if (String(d).includes('serving')) resolve(); });
      child.once('exit', (code) => reject(new Error(`CLI exited with ${code}`)));
    });
    const rp = remote('cli');
    const r = await rp.run({ i: 1 }, { name: 'pid' });
    assert.notStrictEqual(r.pid, child.pid); // a process of the host's pool
    child.kill('SIGTERM');
    assert.strictEqual(await exited, 0);

    const usage = spawn(process.execPath, [bin, 'serve', TASK], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    usage.stderr.on('data', (d) => { err += d; });
    assert.strictEqual(await new Promise((resolve) => usage.once('exit', resolve)), 2);
    assert.match(err, /--name is required/);
  });

  it('credentials are passed through: right ones work, wrong ones fail with the server\'s code', async () => {
    const secured = await startServer(['--user', 'nw', '--pass', 's3cret']);
    try {
      const h = await serve({ servers: secured.url, name: 'auth', filename: TASK, maxThreads: 1, user: 'nw', pass: 's3cret' });
      const rp = new RemotePool({ servers: secured.url, name: 'auth', timeout: 10000, user: 'nw', pass: 's3cret' });
      assert.strictEqual(await rp.run({ op: 'add', a: 1, b: 2 }), 3);
      await rp.close();
      await h.close();
      const bad = new RemotePool({ servers: secured.url, name: 'auth', timeout: 10000, user: 'nw', pass: 'wrong' });
      const t0 = Date.now();
      await assert.rejects(bad.run(1), { code: 'AUTHORIZATION_VIOLATION' });
      assert.ok(Date.now() - t0 < 5000);
      await bad.destroy();
      await assert.rejects(serve({ servers: secured.url, name: 'auth', filename: TASK, maxThreads: 1 }),
        { code: 'AUTHORIZATION_VIOLATION' });
    } finally {
      await secured.stop();
    }
  });
});
