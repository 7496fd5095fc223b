'use strict';

// What a long-running service does many times leaves nothing behind:
// threads, descriptors, memfds and memory come back to where they were.
// A few rounds here; NW_STRESS=1 (npm run test:stress) runs 1000 of each.

const assert = require('assert');
const fs = require('fs');
const wt = require('../lib/worker_threads');
const { ThreadPool, RingBuffer } = require('..');

const STRESS = process.env.NW_STRESS === '1';
const N = STRESS ? 1000 : 20;

function counts() {
  const fds = fs.readdirSync('/proc/self/fd');
  let memfds = 0;
  for (const fd of fds) {
    try { if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:')) memfds++; } catch { /* gone */ }
  }
  return { threads: fs.readdirSync('/proc/self/task').length, fds: fds.length, memfds, rss: process.memoryUsage().rss };
}

// A real collection, so that "collectable" is checked, not hoped for.
require('v8').setFlagsFromString('--expose-gc');
const gc = require('vm').runInNewContext('gc');

async function settle() {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Memory comes back late: V8 frees collected ArrayBuffers' memory on a
// background thread and the allocator returns it to the kernel later
// still. Wait for it (a bounded while), so what is checked is where RSS
// settles, not how fast it gets there.
async function settled(before, rssSlack) {
  let now = counts();
  for (let i = 0; i < 20 && now.rss > before.rss + rssSlack; i++) {
    await settle();
    now = counts();
  }
  return now;
}

function close(before, after, what, rssSlack) {
  if (STRESS) {
    console.log(`      ${what}: threads ${before.threads} -> ${after.threads}, fds ${before.fds} -> ${after.fds}, ` +
      `memfds ${before.memfds} -> ${after.memfds}, rss ${before.rss >> 20} -> ${after.rss >> 20} MiB`);
  }
  assert.ok(after.threads <= before.threads + 2, `${what}: threads ${before.threads} -> ${after.threads}`);
  assert.ok(after.fds <= before.fds + 2, `${what}: fds ${before.fds} -> ${after.fds}`);
  assert.ok(after.memfds <= before.memfds, `${what}: memfds ${before.memfds} -> ${after.memfds}`);
  assert.ok(after.rss <= before.rss + rssSlack, `${what}: rss ${before.rss >> 20} -> ${after.rss >> 20} MiB`);
}

describe(`leaks: ${N} of each`, function () {
  this.timeout(STRESS ? 1200000 : 120000);

  it('Workers of the mirror, each exchanging messages', async () => {
    await settle();
    const before = counts();
    for (let i = 0; i < N; i++) {
      const w = new wt.Worker(`
        const { parentPort } = require(${JSON.stringify(require.resolve('../lib/worker_threads'))});
        parentPort.on('message', (m) => { parentPort.postMessage(m + 1); parentPort.close(); });`, { eval: true });
      const got = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); w.postMessage(i); });
      assert.strictEqual(got, i + 1);
      await new Promise((resolve) => w.once('exit', resolve));
    }
    await settle();
    close(before, await settled(before, 32 << 20), 'Workers', 32 << 20);
  });

  it('MessageChannels of the mirror, each carrying a message and closed', async () => {
    await settle();
    const before = counts();
    for (let i = 0; i < N * 3; i++) {
      const { port1, port2 } = new wt.MessageChannel();
      const got = new Promise((resolve) => port2.once('message', resolve));
      port1.postMessage({ i, pad: 'x'.repeat(100) });
      assert.strictEqual((await got).i, i);
      port1.close();
      port2.close();
    }
    await settle();
    close(before, await settled(before, 32 << 20), 'MessageChannels', 32 << 20);
  });

  it('ThreadPools, each running tasks and closed', async () => {
    await settle();
    const before = counts();
    for (let i = 0; i < N; i++) {
      const pool = new ThreadPool({ threads: 2 });
      const out = await pool.run('sha256', Buffer.from(String(i)));
      assert.strictEqual(out.length, 32);
      await pool.close();
    }
    await settle();
    close(before, await settled(before, 32 << 20), 'ThreadPools', 32 << 20);
  });

  it('RingBuffers with blocking-free reads, closed and dropped', async () => {
    await settle();
    const before = counts();
    for (let i = 0; i < N; i++) {
      const rb = new RingBuffer(64 * 1024);
      rb.tryWrite('x');
      rb.tryRead();
      rb.close();
    }
    await settle();
    close(before, await settled(before, 32 << 20), 'RingBuffers', 32 << 20);
  });

  // 1 MiB rings, written through so that their memory is resident: a ring
  // kept alive after it is done shows in RSS (stress) and in the count of
  // collected rings (every run).
  async function ringRounds(finish) {
    await settle();
    const before = counts();
    let collected = 0;
    const registry = new FinalizationRegistry(() => { collected++; });
    const chunk = Buffer.alloc(60 * 1024, 7);
    for (let i = 0; i < N; i++) {
      const rb = new RingBuffer(1 << 20);
      registry.register(rb, i);
      for (let k = 0; k < 16; k++) { rb.tryWrite(chunk); rb.tryRead(); }
      await finish(rb, i);
    }
    await settle();
    await settle();
    close(before, await settled(before, 64 << 20), 'RingBuffers with async waits', 64 << 20);
    // Finalization callbacks run some time after the collection: a few may
    // still be due; a ring held for good would leave most of them out.
    assert.ok(collected >= Math.min(N - 2, Math.floor(N * 0.95)), `only ${collected} of ${N} rings were collected`);
  }

  it('1 MiB RingBuffers, one readAsync each, closed and dropped', () => ringRounds(async (rb, i) => {
    const p = rb.readAsync();
    if (i % 2) {
      setImmediate(() => rb.tryWrite('x'));
      await p;
      rb.close();
    } else {
      // Closed by another handle on the same memory, as a peer would.
      setImmediate(() => RingBuffer.from(rb.buffer).close());
      assert.strictEqual(await p, null);
    }
  }));

  it('1 MiB RingBuffers whose async calls ended, dropped without close()', () => ringRounds(async (rb, i) => {
    if (i % 3 === 0) {
      const p = rb.readAsync();
      setImmediate(() => rb.tryWrite('x'));
      assert.strictEqual((await p).toString(), 'x');
    } else if (i % 3 === 1) {
      assert.strictEqual(await rb.readAsync({ timeout: 1 }), null);
    } else {
      const ac = new AbortController();
      const p = rb.readAsync({ signal: ac.signal });
      setImmediate(() => ac.abort());
      await assert.rejects(p, { name: 'AbortError' });
      // And a writer that waited for room.
      const big = Buffer.alloc(rb.maxMessageSize);
      assert.strictEqual(rb.tryWrite(big), true);
      const w = rb.writeAsync('y');
      setImmediate(() => rb.tryRead());
      assert.strictEqual(await w, true);
    }
  }));

  it('forked children, each exchanging messages and exiting', async () => {
    const { fork } = require('../lib/child_process');
    const path = require('path');
    const rounds = STRESS ? 1000 : 10;
    await settle();
    const before = counts();
    for (let i = 0; i < rounds; i++) {
      const child = fork(path.join(__dirname, 'fixtures', 'fork-echo.js'));
      const got = await new Promise((resolve, reject) => {
        child.once('message', resolve);
        child.once('error', reject);
        child.send({ n: i });
      });
      assert.deepStrictEqual(got, { n: i });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ cmd: 'exit', code: 0 });
      await exited;
    }
    await settle();
    close(before, await settled(before, 32 << 20), 'forks', 32 << 20);
  });
});
