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

async function settle() {
  for (let i = 0; i < 5; i++) {
    if (global.gc) global.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function close(before, after, what, rssSlack) {
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
    close(before, counts(), 'Workers', 64 << 20);
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
    close(before, counts(), 'ThreadPools', 32 << 20);
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
    close(before, counts(), 'RingBuffers', 32 << 20);
  });
});
