'use strict';

// The hostile-peer suite: a forked child and a Worker scribble random bytes
// over their shared channel memory and publish garbage, for a few seconds,
// while the parent keeps sending and receiving. The parent never crashes
// and never hangs; it reports the corruption it finds (an error, then a
// disconnect or close); and afterwards it still works.

const assert = require('assert');
const path = require('path');
const ours = require('../lib/child_process');
const wt = require('../lib/worker_threads');

const STRESS = process.env.NW_STRESS === '1';
const MS = STRESS ? 20000 : 1500;
const SCRIBBLE = path.join(__dirname, 'fixtures', 'hostile-scribble.js');
const ECHO = path.join(__dirname, 'fixtures', 'fork-echo.js');

async function stillWorks() {
  const cp = ours.fork(ECHO);
  const back = await new Promise((resolve) => { cp.once('message', resolve); cp.send({ ok: [1, 2] }); });
  assert.deepStrictEqual(back, { ok: [1, 2] });
  const exited = new Promise((resolve) => cp.on('exit', resolve));
  cp.kill();
  await exited;
}

describe('hostile peers scribbling over shared memory', function () {
  this.timeout(MS * 4 + 30000);

  for (const serialization of ['json', 'advanced']) {
    for (const seed of [1, 2, 3]) {
      it(`a fork() child (${serialization}, seed ${seed})`, async () => {
        const cp = ours.fork(SCRIBBLE, [String(MS), String(seed)], { serialization });
        const errors = [];
        let messages = 0;
        cp.on('error', (e) => errors.push(e.code));
        cp.on('message', (m) => { messages++; assert.notStrictEqual(m, undefined); });
        const sender = setInterval(() => {
          if (!cp.connected) return;
          for (let i = 0; i < 20; i++) cp.send({ n: i, s: 'x'.repeat(i * 10) });
        }, 1);
        await new Promise((resolve) => cp.on('exit', resolve));
        clearInterval(sender);
        await new Promise((resolve) => setImmediate(resolve));
        for (const code of errors) assert.ok(['ERR_IPC_CHANNEL_CORRUPT', 'ERR_IPC_MESSAGE_TOO_LARGE'].includes(code), code);
        assert.strictEqual(cp.connected, false);
        assert.ok(messages + errors.length > 0);
        await stillWorks();
      });
    }
  }

  it('a Worker scribbling over its rings and control block', async () => {
    const w = new wt.Worker(`
      const { parentPort } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'worker_threads'))});
      const binding = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'internal', 'binding'))});
      const { kState } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'internal', 'worker', 'transfer'))});
      const st = parentPort[kState];
      const views = [st.outbox.u8, st.inbox.u8, new Uint8Array(st.ctlSab)];
      let s = 7;
      const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
      const end = Date.now() + ${MS};
      parentPort.on('message', () => {});
      let seq = 0;
      (function round() {
        if (Date.now() > end) { process.exit(0); }
        for (let k = 0; k < 50; k++) {
          const r = next() % 10;
          if (r < 5) parentPort.postMessage({ seq: seq++ });
          else { const v = views[next() % 3]; v[next() % v.length] = next() & 0xff; }
        }
        try { binding.bellRing(Atomics.load(new Int32Array(st.ctlSab), 0)); } catch {}
        setImmediate(round);
      })();`, { eval: true });
    const errors = [];
    w.on('error', (e) => errors.push(e.code));
    w.on('message', () => {});
    const sender = setInterval(() => { for (let i = 0; i < 20; i++) w.postMessage({ i }); }, 1);
    const code = await new Promise((resolve) => w.on('exit', resolve));
    clearInterval(sender);
    for (const c of errors) assert.ok(['ERR_RING_CORRUPT'].includes(c), String(c));
    assert.ok(code === 0 || code === 1, String(code));
    await stillWorks();
  });
});
