'use strict';

// Positions are free-running 32-bit counters: every channel keeps working
// when they pass 2^31 and 2^32. The rings here start just below those
// boundaries (as if that much had gone through them), so CI crosses them
// in a moment; test:stress also pushes 2.25 GiB through a fork channel.

const assert = require('assert');
const path = require('path');
const crypto = require('crypto');
const ours = require('../lib/child_process');
const { kChannelStart } = require('../lib/internal/fork');
const { kTransport } = require('../lib/internal/ipc/target');
const binding = require('../lib/internal/binding');
const { MessagePort, kCreate } = require('../lib/internal/worker/port');
const { newChannelMemory } = require('../lib/internal/worker/lanes');
const nodeWT = require('worker_threads');

const ECHO = path.join(__dirname, 'fixtures', 'fork-echo.js');
const STRESS = process.env.NW_STRESS === '1';
const W = binding.RING_WORDS;

// Messages of many sizes (some fragmented), then their echoes, checked.
async function echoes(cp, count, maxLen) {
  let seed = 7;
  const next = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed; };
  const sent = [];
  for (let i = 0; i < count; i++) {
    const len = i % 10 === 9 ? maxLen : next() % 4096;
    sent.push({ i, s: crypto.createHash('sha256').update(String(i)).digest('hex').repeat(Math.ceil(len / 64)).slice(0, len) });
  }
  const got = [];
  const done = new Promise((resolve, reject) => {
    cp.on('message', (m) => { got.push(m); if (got.length === count) resolve(); });
    cp.on('exit', () => reject(new Error(`child left after ${got.length} of ${count} echoes`)));
  });
  for (const m of sent) cp.send(m);
  await done;
  assert.deepStrictEqual(got, sent);
}

describe('positions past 2^31 and 2^32', function () {
  this.timeout(STRESS ? 600000 : 60000);

  for (const serialization of ['json', 'advanced']) {
    for (const start of [0x7ff00000, 0xfff00000]) {
      it(`fork channel (${serialization}) crosses ${start > 0x80000000 ? '2^32' : '2^31'} both ways`, async () => {
        const cp = ours.fork(ECHO, [], { serialization, [kChannelStart]: start });
        // 1 MiB below the boundary: a few MiB of traffic each way crosses it.
        await echoes(cp, 400, 700 * 1024);
        const ch = cp[kTransport];
        assert.ok(((ch.out.wpos - start) >>> 0) > 0x100000 && ((ch.in.rpos - start) >>> 0) > 0x100000,
          'both rings went past the boundary');
        const exited = new Promise((resolve) => cp.on('exit', resolve));
        cp.send({ cmd: 'exit', code: 0 });
        assert.strictEqual(await exited, 0);
      });
    }
  }

  it('worker_threads lanes cross 0x80000000 and 0x100000000', async () => {
    for (const start of [0x7fffff00, 0xffffff00]) {
      const mem = newChannelMemory(4096);
      for (const sab of [mem.r0, mem.r1]) {
        const base = binding.ringAttach(new Uint8Array(sab)) >> 2;
        const i32 = new Int32Array(sab);
        for (const w of [W.prodHead, W.prodTail, W.consHead, W.consTail]) i32[base + w] = start | 0;
      }
      const node = new nodeWT.MessageChannel();
      const a = new MessagePort(kCreate, { ...mem, ctlSab: mem.ctlSab, side: 0, node: node.port1 });
      const b = new MessagePort(kCreate, { ...mem, ctlSab: mem.ctlSab, side: 1, node: node.port2 });
      const got = [];
      const all = new Promise((resolve) => b.on('message', (m) => { got.push(m); if (got.length === 300) resolve(); }));
      for (let i = 0; i < 300; i++) a.postMessage(i % 3 === 0 ? { i, pad: 'x'.repeat(i) } : new Uint8Array(i % 50).fill(i & 0xff));
      await all;
      for (let i = 0; i < 300; i++) {
        if (i % 3 === 0) assert.deepStrictEqual(got[i], { i, pad: 'x'.repeat(i) });
        else assert.deepStrictEqual(got[i], new Uint8Array(i % 50).fill(i & 0xff));
      }
      a.close();
    }
  });

  if (STRESS) {
    it('2.25 GiB through one fork channel, one way, both serializations', async () => {
      for (const serialization of ['json', 'advanced']) {
        const cp = ours.fork(path.join(__dirname, 'fixtures', 'fork-count.js'), [], { serialization });
        const chunk = 'y'.repeat(256 * 1024);
        const total = 9000;
        for (let i = 0; i < total; i++) {
          await new Promise((resolve, reject) => cp.send(chunk, (err) => (err ? reject(err) : resolve())));
        }
        const report = new Promise((resolve) => cp.once('message', resolve));
        cp.send('report');
        assert.deepStrictEqual(await report, { n: total, bytes: total * chunk.length });
        cp.kill();
      }
    });
  }
});
