'use strict';

// What a peer writes into shared memory is input: a broken or hostile peer
// gets an error and a disconnect, never a crash, a hang or stale data.

const assert = require('assert');
const path = require('path');
const { execFile } = require('child_process');
const ours = require('../lib/child_process');
const { RingBuffer } = require('..');
const wt = require('../lib/worker_threads');
const binding = require('../lib/internal/binding');
const { Fragments, RECORD_JSON, RECORD_MORE, AdvancedParser, JsonLineParser } = require('../lib/internal/ipc/framing');

const HOSTILE = path.join(__dirname, 'fixtures', 'hostile-fork.js');
const W = binding.RING_WORDS;

// Fork the hostile child in `mode`; collect what the parent sees.
function hostile(mode, { listen = true, serialization = 'json' } = {}) {
  return new Promise((resolve, reject) => {
    const cp = ours.fork(HOSTILE, [mode], { serialization });
    const seen = [];
    const timer = setTimeout(() => { cp.kill('SIGKILL'); reject(new Error(`${mode}: no disconnect (${JSON.stringify(seen)})`)); }, 15000);
    cp.on('message', (m) => { seen.push(['message', m]); if (m === 'before') cp.send('go'); });
    if (listen) cp.on('error', (e) => seen.push(['error', e.code]));
    cp.on('disconnect', () => {
      seen.push(['disconnect']);
      clearTimeout(timer);
      cp.kill('SIGKILL');
      cp.on('exit', () => resolve(seen));
    });
  });
}

describe('a fork() child that breaks the channel', function () {
  this.timeout(30000);
  const modes = ['not-json', 'half-json', 'bad-advanced', 'bad-handle-body', 'wrong-fd-type',
    'mixed-fragments', 'unknown-type', 'publish-ahead', 'bad-length'];
  for (const mode of modes) {
    it(`${mode}: ERR_IPC_CHANNEL_CORRUPT, then 'disconnect'; no message is made up`, async () => {
      const seen = await hostile(mode, { serialization: mode === 'bad-advanced' ? 'advanced' : 'json' });
      assert.deepStrictEqual(seen, [['message', 'before'], ['error', 'ERR_IPC_CHANNEL_CORRUPT'], ['disconnect']]);
    });
  }

  it('with no error listener the parent warns and lives', async () => {
    const warnings = [];
    const onWarning = (w) => warnings.push(w.code);
    process.on('warning', onWarning);
    try {
      const seen = await hostile('not-json', { listen: false });
      assert.deepStrictEqual(seen, [['message', 'before'], ['disconnect']]);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepStrictEqual(warnings, ['ERR_IPC_CHANNEL_CORRUPT']);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('one record is one message: JSON texts are never parsed together', async () => {
    const seen = await hostile('half-json');
    assert.ok(!seen.some(([k, m]) => k === 'message' && m && m.a === 1), 'two half records became one message');
  });
});

describe('framing limits', () => {
  it('a message reassembled from fragments past the limit is an error, not memory held', () => {
    const f = new Fragments(1000);
    assert.strictEqual(f.add(RECORD_JSON | RECORD_MORE, Buffer.alloc(600)), false);
    assert.throws(() => f.add(RECORD_JSON | RECORD_MORE, Buffer.alloc(600)), { code: 'ERR_IPC_MESSAGE_TOO_LARGE' });
    assert.strictEqual(f.open, false);
  });

  it("Node's protocol: a length prefix or a line past the limit is an error", () => {
    const adv = new AdvancedParser();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(0xfffffff0, 0);
    assert.throws(() => adv.push(head, () => {}), { code: 'ERR_IPC_MESSAGE_TOO_LARGE' });
    const json = new JsonLineParser(1000);
    json.push(Buffer.from('"'.padEnd(600, 'x')), () => {});
    assert.throws(() => json.push(Buffer.from('x'.repeat(600)), () => {}), { code: 'ERR_IPC_MESSAGE_TOO_LARGE' });
  });
});

describe('RingBuffer: corrupted positions of a multi ring', () => {
  function corrupted(word, value) {
    const rb = new RingBuffer(1024, { producers: 'multi', consumers: 'multi' });
    const base = binding.ringAttach(new Uint8Array(rb.buffer)) >> 2;
    rb.tryWrite('abc');
    new Int32Array(rb.buffer)[base + word] = value;
    return rb;
  }
  it('try* and timed waits end at once with ERR_RING_CORRUPT, never spin', () => {
    const t0 = Date.now();
    for (const [word, value] of [[W.consTail, 0x12345678], [W.prodTail, 0x7000], [W.prodHead, 0x40000000]]) {
      const rb = corrupted(word, value);
      // (Readers never look at prod_head: that one only stops writers.)
      if (word !== W.prodHead) {
        assert.throws(() => { rb.tryRead(); rb.tryRead(); }, { code: 'ERR_RING_CORRUPT' }, `read, word ${word}`);
      }
      const rb2 = corrupted(word, value);
      assert.throws(() => { for (let i = 0; i < 400; i++) if (!rb2.write('x', { timeout: 20 })) break; }, { code: 'ERR_RING_CORRUPT' },
        `write, word ${word}`);
    }
    assert.ok(Date.now() - t0 < 10000, 'no spinning');
  });
});

describe('RingBuffer: views whose memory is gone', () => {
  it('a detached view and one shrunk out of bounds are refused alike', () => {
    const rb = new RingBuffer(64);
    const rab = new ArrayBuffer(16, { maxByteLength: 32 });
    const views = [new Uint8Array(rab, 8, 4), new DataView(rab, 8, 4), new Uint16Array(rab, 8, 2)];
    rab.resize(4);
    for (const v of views) {
      assert.throws(() => rb.tryWrite(v), { code: 'ERR_INVALID_ARG_VALUE' }, v.constructor.name);
      assert.throws(() => rb.write(v), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    const ab = new ArrayBuffer(8);
    const u = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    assert.throws(() => rb.tryWrite(u), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.strictEqual(rb.tryWrite(new Uint8Array(rab, 0, 0)), true);
    assert.strictEqual(rb.tryRead().length, 0);
    assert.strictEqual(rb.tryRead(), null);
  });
});

describe('worker_threads: a Worker that breaks its channel', function () {
  this.timeout(30000);
  it("an 'error' event on the Worker with ERR_RING_CORRUPT; the process goes on", async () => {
    const w = new wt.Worker(`
      const { parentPort } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'worker_threads'))});
      const binding = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'internal', 'binding'))});
      const { kState } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'internal', 'worker', 'transfer'))});
      const st = parentPort[kState];
      const out = st.outbox;
      parentPort.postMessage('hello');
      setTimeout(() => {
        // Say three rings more were published than were written, and ring
        // the reader's doorbell (word 0 of the control block: side 0's bell).
        Atomics.store(out.i32, out.h + binding.RING_WORDS.prodTail, (out.wpos + out.cap * 3) | 0);
        binding.bellRing(Atomics.load(st.ctl, 0));
      }, 50);
      setTimeout(() => {}, 2000);`, { eval: true });
    const seen = [];
    await new Promise((resolve) => {
      w.on('message', (m) => seen.push(['message', m]));
      w.on('error', (e) => { seen.push(['error', e.code]); resolve(); });
    });
    await w.terminate();
    assert.deepStrictEqual(seen, [['message', 'hello'], ['error', 'ERR_RING_CORRUPT']]);
  });

  it('a MessagePort whose peer broke the ring closes with an error, not a crash', async () => {
    const { port1, port2 } = new wt.MessageChannel();
    const { kState } = require('../lib/internal/worker/transfer');
    const inbox = port2[kState].inbox;
    const seen = [];
    port2.on('message', (m) => seen.push(m));
    port2.on('error', (e) => seen.push(e.code));
    const closed = new Promise((resolve) => port2.on('close', resolve));
    port1.postMessage('one');
    await new Promise((resolve) => setTimeout(resolve, 20));
    Atomics.store(inbox.i32, inbox.h + W.prodTail, (inbox.rpos + inbox.cap * 2) | 0);
    binding.bellRing(port2[kState].bell);
    await closed;
    assert.deepStrictEqual(seen, ['one', 'ERR_RING_CORRUPT']);
    port1.close();
  });
});

describe("Node's protocol: a child that floods descriptors", function () {
  this.timeout(30000);
  it('more than 64 unclaimed descriptors is ERR_IPC_CHANNEL_CORRUPT and a disconnect', async () => {
    const child = ours.spawn(process.execPath, ['-e', `
      const b = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'internal', 'binding'))});
      const fd = require('fs').openSync(__filename === '[eval]' ? '/dev/null' : __filename, 'r');
      for (let i = 0; i < 100; i++) b.ipcSendWithFd(3, Buffer.from(' '), fd);
      setTimeout(() => {}, 5000);`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const seen = [];
    child.on('error', (e) => seen.push(e.code));
    await new Promise((resolve) => child.on('disconnect', resolve));
    child.kill();
    assert.deepStrictEqual(seen, ['ERR_IPC_CHANNEL_CORRUPT']);
  });
});
