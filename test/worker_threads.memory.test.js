'use strict';

// The memory of the worker_threads mirror's channels: closed ports are
// collected, and the rings of a channel that is over are taken over by the
// next one of the same thread (a Worker's when it has exited, a
// MessageChannel's when both its ports closed here) but never while some
// port can still read them.

const assert = require('assert');
const wt = require('../lib/worker_threads');

require('v8').setFlagsFromString('--expose-gc');
const gc = require('vm').runInNewContext('gc');
const LIB = JSON.stringify(require.resolve('../lib/worker_threads'));

async function collect() {
  for (let i = 0; i < 6; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function drain(port) {
  const out = [];
  for (let r; (r = wt.receiveMessageOnPort(port)) !== undefined;) out.push(r.message);
  return out;
}

describe('worker_threads mirror: channel memory', function () {
  this.timeout(60000);

  it('closed MessageChannels are collected, as Node\'s are', async () => {
    let collected = 0;
    const registry = new FinalizationRegistry(() => { collected++; });
    for (let i = 0; i < 50; i++) {
      const { port1, port2 } = new wt.MessageChannel();
      registry.register(port1, i);
      if (i % 2) {
        const got = new Promise((resolve) => port2.once('message', resolve));
        port1.postMessage({ i });
        assert.deepStrictEqual(await got, { i });
      }
      port1.close();
      port2.close();
    }
    await collect();
    assert.ok(collected >= 45, `only ${collected} of 50 closed channels were collected`);
  });

  it('a channel closed on one side only is collected once the other side heard of it', async () => {
    let collected = 0;
    const registry = new FinalizationRegistry(() => { collected++; });
    for (let i = 0; i < 20; i++) {
      const { port1, port2 } = new wt.MessageChannel();
      registry.register(port2, i);
      const closed = new Promise((resolve) => port2.once('close', resolve));
      port2.on('message', () => {});
      port1.postMessage(i);
      port1.close();
      await closed;
    }
    await collect();
    assert.ok(collected >= 18, `only ${collected} of 20 channels were collected`);
  });

  // Node's own ports are the reference: the same scenarios, both kinds.
  it('ports are collected when Node\'s are, and kept when Node\'s are', async () => {
    const nodeWT = require('worker_threads');
    async function collectedOf(mod, scenario) {
      let collected = 0;
      const registry = new FinalizationRegistry(() => { collected++; });
      for (let i = 0; i < 40; i++) {
        const { port1, port2 } = new mod.MessageChannel();
        registry.register(port1, i);
        if (scenario === 'listening, unref') { port1.on('message', () => {}); port1.unref(); }
        if (scenario === 'posted to, never read') port2.postMessage(i);
        if (scenario === 'both closed') { port1.close(); port2.close(); }
      }
      await collect();
      return collected;
    }
    for (const scenario of ['never used', 'listening, unref', 'posted to, never read', 'both closed']) {
      const node = await collectedOf(nodeWT, scenario);
      const ours = await collectedOf(wt, scenario);
      assert.ok(Math.abs(node - ours) <= 4, `${scenario}: Node's ports collected ${node} of 40, ours ${ours}`);
    }
  });

  it('Workers one after another each see their own messages only', async () => {
    for (let i = 0; i < 6; i++) {
      const w = new wt.Worker(`
        const { parentPort } = require(${LIB});
        const seen = [];
        parentPort.on('message', (m) => {
          seen.push(m);
          if (m === 'end') { parentPort.postMessage(seen); parentPort.close(); }
        });`, { eval: true });
      const msgs = [];
      for (let k = 0; k < 50; k++) msgs.push(`w${i}-${k}-${'x'.repeat(k * 40)}`);
      const got = new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
      const exited = new Promise((resolve) => w.once('exit', resolve));
      for (const m of msgs) w.postMessage(m);
      w.postMessage('end');
      assert.deepStrictEqual(await got, [...msgs, 'end']);
      assert.strictEqual(await exited, 0);
      // After 'exit' the Worker's channel is over: posting is dropped, as
      // with Node's, and touches nothing the next Worker uses.
      w.postMessage('after exit');
    }
  });

  it('a parentPort transferred out of its Worker keeps its messages after the Worker exits', async () => {
    const { port1, port2 } = new wt.MessageChannel();
    const w = new wt.Worker(`
      const { parentPort, workerData } = require(${LIB});
      setTimeout(() => { workerData.port.postMessage(parentPort, [parentPort]); workerData.port.close(); }, 100);`,
    { eval: true, workerData: { port: port2 }, transferList: [port2] });
    for (let i = 0; i < 5; i++) w.postMessage(`m${i}`);
    const moved = await new Promise((resolve) => port1.once('message', resolve));
    await new Promise((resolve) => w.once('exit', resolve));
    port1.close();
    // New Workers of this thread, which must not be given that channel's
    // rings while the moved port still reads them.
    for (let i = 0; i < 3; i++) {
      const x = new wt.Worker('1', { eval: true });
      x.postMessage(`junk${i}`);
      await new Promise((resolve) => x.once('exit', resolve));
    }
    assert.deepStrictEqual(drain(moved), ['m0', 'm1', 'm2', 'm3', 'm4']);
    moved.close();
  });

  it('closing both ports from a listener delivers the rest of the batch, and a new channel starts empty', async () => {
    const { port1, port2 } = new wt.MessageChannel();
    const seen = [];
    let fresh = null;
    const done = new Promise((resolve) => port2.once('close', resolve));
    port2.on('message', (ev) => {
      seen.push(ev);
      if (ev === 0) {
        port1.close();
        port2.close();
        fresh = new wt.MessageChannel();
      }
    });
    for (let i = 0; i < 10; i++) port1.postMessage(i);
    await done;
    await new Promise((resolve) => setImmediate(resolve));
    // What Node's ports deliver after close() from a listener: the batch
    // that was already being dispatched.
    assert.ok(seen.length >= 1 && seen.every((v, i) => v === i), `delivered ${seen}`);
    const later = new wt.MessageChannel();
    assert.deepStrictEqual(drain(fresh.port2), []);
    assert.deepStrictEqual(drain(later.port2), []);
    fresh.port1.postMessage('a');
    later.port1.postMessage('b');
    assert.deepStrictEqual(drain(fresh.port2), ['a']);
    assert.deepStrictEqual(drain(later.port2), ['b']);
    for (const c of [fresh, later]) { c.port1.close(); c.port2.close(); }
  });

  it('a port transferred away keeps its channel\'s rings out of reuse', async () => {
    const { port1, port2 } = new wt.MessageChannel();
    const w = new wt.Worker(`
      const { parentPort } = require(${LIB});
      parentPort.once('message', ({ port }) => {
        port.on('message', (m) => { port.postMessage(m * 2); if (m === 3) port.close(); });
      });`, { eval: true });
    w.postMessage({ port: port2 }, [port2]);
    const got = [];
    port1.on('message', (m) => got.push(m));
    const closed = new Promise((resolve) => port1.once('close', resolve));
    for (const m of [1, 2, 3]) port1.postMessage(m);
    await closed;
    port1.close();
    // Channels made now must not share the old one's rings with the worker.
    const chans = [];
    for (let i = 0; i < 4; i++) chans.push(new wt.MessageChannel());
    for (const c of chans) c.port1.postMessage('mine');
    for (const c of chans) assert.deepStrictEqual(drain(c.port2), ['mine']);
    for (const c of chans) { c.port1.close(); c.port2.close(); }
    assert.deepStrictEqual(got, [2, 4, 6]);
    await w.terminate();
  });
});
