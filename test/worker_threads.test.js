'use strict';

// native-workers/worker_threads, differential against node:worker_threads:
// each scenario runs on both and compares what a user sees.

const assert = require('assert');
const path = require('path');
const util = require('util');
const { execFile } = require('child_process');
const nodeWT = require('worker_threads');
const ours = require('../lib/worker_threads');
const binding = require('../lib/internal/binding');

const ECHO = path.join(__dirname, 'fixtures', 'wt-echo.js');
const RELAY = path.join(__dirname, 'fixtures', 'wt-relay.js');
const IMPLS = { node: nodeWT, ours };

function nextMessage(emitter) {
  return new Promise((resolve, reject) => {
    const onError = (e) => { emitter.off('message', onMsg); reject(e); };
    const onMsg = (m) => { emitter.off('error', onError); resolve(m); };
    emitter.once('message', onMsg);
    emitter.once('error', onError);
  });
}

function collect(emitter, n) {
  return new Promise((resolve) => {
    const got = [];
    const on = (m) => { got.push(m); if (got.length === n) { emitter.off('message', on); resolve(got); } };
    emitter.on('message', on);
  });
}

async function startEcho(name, options = {}) {
  const w = new IMPLS[name].Worker(ECHO, { argv: [name], ...options });
  const ready = await nextMessage(w);
  return { w, ready };
}

// Record the events a worker emits until 'exit'.
function record(w) {
  const events = [];
  return new Promise((resolve) => {
    w.on('online', () => events.push(['online']));
    w.on('message', (m) => events.push(['message', m]));
    w.on('error', (e) => events.push(['error', e && e.constructor && e.constructor.name, e && e.message, e && e.code]));
    w.on('exit', (code) => { events.push(['exit', code]); resolve(events); });
  });
}

function describeValue(v) {
  return `${Object.prototype.toString.call(v)} ${v && v.constructor ? v.constructor.name : ''} ${util.inspect(v, { depth: 5, showHidden: false })}`;
}

function runScript(code, timeout = 20000) {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', code], { timeout, cwd: path.join(__dirname, '..') }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, signal: err ? err.signal : null, stdout, stderr });
    });
  });
}

describe('worker_threads mirror', function () {
  this.timeout(60000);
  let bellsBefore;
  before(() => { bellsBefore = binding.bellLive(); });

  it('exports what node:worker_threads exports (the parts it mirrors)', () => {
    for (const k of ['Worker', 'MessageChannel', 'MessagePort', 'receiveMessageOnPort', 'isMainThread',
      'parentPort', 'workerData', 'threadId', 'resourceLimits', 'SHARE_ENV', 'setEnvironmentData',
      'getEnvironmentData', 'markAsUntransferable', 'moveMessagePortToContext', 'BroadcastChannel',
      'postMessageToThread']) {
      assert.ok(k in ours, k);
      assert.strictEqual(typeof ours[k], typeof nodeWT[k], k);
    }
    assert.strictEqual(ours.isMainThread, true);
    assert.strictEqual(ours.parentPort, null);
    assert.strictEqual(ours.SHARE_ENV, nodeWT.SHARE_ENV);
  });

  it('passes Node\'s BroadcastChannel through; moveMessagePortToContext takes ports of both kinds', async () => {
    const vm = require('vm');
    const { port1, port2 } = new ours.MessageChannel();
    const movedOurs = ours.moveMessagePortToContext(port1, vm.createContext({}));
    assert.throws(() => port1.postMessage(1, [port1]), { name: 'DataCloneError' });
    movedOurs.postMessage('from the context');
    assert.strictEqual(await nextMessage(port2), 'from the context');
    assert.throws(() => ours.moveMessagePortToContext({}, vm.createContext({})),
      { code: 'ERR_INVALID_ARG_TYPE', message: 'The "port" argument must be a MessagePort instance' });
    movedOurs.close();
    port2.close();
    const nodePorts = new nodeWT.MessageChannel();
    const moved = ours.moveMessagePortToContext(nodePorts.port1, vm.createContext({}));
    assert.strictEqual(typeof moved.postMessage, 'function');
    nodePorts.port2.close();
    // A BroadcastChannel reaches a worker started by ours.
    const w = new ours.Worker(`
      const { BroadcastChannel, parentPort } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'worker_threads'))});
      const bc = new BroadcastChannel('nw-test');
      bc.onmessage = (e) => { parentPort.postMessage(e.data); bc.close(); };
      parentPort.postMessage('listening');`, { eval: true });
    assert.strictEqual(await nextMessage(w), 'listening');
    const bc = new ours.BroadcastChannel('nw-test');
    const got = nextMessage(w);
    bc.postMessage({ hello: 1 });
    assert.deepStrictEqual(await got, { hello: 1 });
    bc.close();
    await w.terminate();
  });

  it('gives the worker isMainThread, parentPort, workerData and threadId', async () => {
    for (const name of ['node', 'ours']) {
      const { w, ready } = await startEcho(name, { workerData: { a: [1, 'x'], m: new Map([[1, 2]]) } });
      assert.deepStrictEqual(ready, { ready: true, isMainThread: false, threadId: 'number', workerData: { a: [1, 'x'], m: new Map([[1, 2]]) } }, name);
      assert.ok(w.threadId > 0);
      await w.terminate();
    }
  });

  it('clones values exactly as Node does', async () => {
    const shared = { s: 1 };
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const named = [1, 2];
    named.extra = 'x';
    const pooled = Buffer.from('pooled'); // a view into Node's 8 KiB pool
    const values = [
      { id: 1, type: 'update', value: 3.14, ok: true, nested: { a: [1, 2, { b: null }] } },
      'plain string', 'lone \ud800 surrogate', '', 42, -0, NaN, Infinity, 12345678901234567890n, true, null, undefined,
      [], {}, [1, 'two', [3]], sparse, named, { a: undefined }, { x: shared, y: shared },
      new Map([[{ k: 1 }, new Set([1, 2])]]), new Date(86400000), /ab+c/gi, new Error('boom'),
      new RangeError('range'), pooled, new Uint8Array([1, 2, 3]), new Float64Array([1.5, -0]),
      new DataView(new ArrayBuffer(8), 2, 4), new Uint16Array(new ArrayBuffer(16), 4, 3), new ArrayBuffer(5),
      Object.create(null), { __proto__: { inherited: 1 }, own: 2 }, new (class Foo { constructor() { this.z = 1; } })(),
      'x'.repeat(3 * 1024 * 1024), // larger than the ring: through the side channel
      Buffer.alloc(2 * 1024 * 1024, 1),
      { big: 'y'.repeat(300000), n: 1 },
    ];
    const got = {};
    for (const name of ['node', 'ours']) {
      const { w } = await startEcho(name);
      const replies = collect(w, values.length);
      for (const v of values) w.postMessage(v);
      got[name] = await replies;
      await w.terminate();
    }
    for (let i = 0; i < values.length; i++) {
      assert.strictEqual(describeValue(got.ours[i]), describeValue(got.node[i]), `value ${i}`);
      assert.ok(util.isDeepStrictEqual(got.ours[i], got.node[i]), `value ${i}`);
    }
    // Identity kept inside one message.
    assert.strictEqual(got.ours[18].x, got.ours[18].y);
    assert.strictEqual(Object.getPrototypeOf(got.ours[25]), Uint8Array.prototype);
    assert.strictEqual(got.ours[25].byteOffset, got.node[25].byteOffset);
  });

  it('keeps order when some messages carry transferables or shared memory', async () => {
    const { w } = await startEcho('ours');
    const n = 300;
    const replies = collect(w, n);
    const sent = [];
    for (let i = 0; i < n; i++) {
      if (i % 3 === 1) {
        const ab = new Uint8Array([i & 255, 1, 2]).buffer;
        w.postMessage({ i, ab }, [ab]);
        assert.strictEqual(ab.byteLength, 0, 'transferred ArrayBuffer is detached on the sender');
      } else if (i % 7 === 2) {
        w.postMessage({ i, sab: new SharedArrayBuffer(4) });
      } else {
        w.postMessage({ i });
      }
      sent.push(i);
    }
    const got = await replies;
    assert.deepStrictEqual(got.map((m) => m.i), sent);
    for (const m of got) if (m.i % 3 === 1) assert.strictEqual(new Uint8Array(m.ab)[0], m.i & 255);
    await w.terminate();
  });

  it('copies bytes when postMessage is called, also when the ring is full', async () => {
    const { w } = await startEcho('ours');
    const n = 40; // 40 x 64 KiB: more than the channel's ring holds
    const replies = collect(w, n);
    const buf = new Uint8Array(64 * 1024);
    for (let i = 0; i < n; i++) {
      buf.fill(i);
      w.postMessage(buf);
    }
    buf.fill(255);
    const got = await replies;
    for (let i = 0; i < n; i++) {
      assert.strictEqual(got[i].length, 64 * 1024);
      assert.ok(got[i].every((x) => x === i), `message ${i}`);
    }
    await w.terminate();
  });

  it('shares SharedArrayBuffers (Atomics across threads)', async () => {
    const { w } = await startEcho('ours');
    const sab = new SharedArrayBuffer(8);
    const a = new Int32Array(sab);
    const done = nextMessage(w);
    w.postMessage({ cmd: 'sab', sab });
    assert.strictEqual(await done, 'sab-done');
    assert.strictEqual(Atomics.load(a, 0), 1000);
    assert.strictEqual(Atomics.load(a, 1), 1);
    await w.terminate();
  });

  it('transfers its own MessagePorts to a worker, in messages and in workerData', async () => {
    const { MessageChannel, MessagePort } = ours;
    const { port1, port2 } = new MessageChannel();
    const { port1: q1, port2: q2 } = new MessageChannel();
    const { w, ready } = await startEcho('ours', { workerData: { q: q2 }, transferList: [q2] });
    assert.deepStrictEqual(ready.workerData, { q: true });
    q1.close(); // the worker closed its end too
    w.postMessage({ cmd: 'port', port: port2 }, [port2]);
    assert.throws(() => w.postMessage({ cmd: 'port', port: port2 }, [port2]), { name: 'DataCloneError' });
    const echoes = collect(port1, 3);
    port1.postMessage('a');
    port1.postMessage({ b: [1] });
    port1.postMessage(new Map([[1, 'c']]));
    assert.deepStrictEqual(await echoes, ['a', { b: [1] }, new Map([[1, 'c']])]);
    // A port sent through a port.
    const { port1: r1, port2: r2 } = new MessageChannel();
    port1.postMessage({ cmd: 'port', port: r2 }, [r2]);
    const deep = nextMessage(r1);
    r1.postMessage('deep');
    assert.strictEqual(await deep, 'deep');
    assert.ok(q1 instanceof MessagePort);
    const closed = new Promise((resolve) => port1.once('close', resolve));
    port1.postMessage('close');
    await closed;
    r1.close();
    await w.terminate();
  });

  it('emits online, error and exit as Node does for an uncaught exception', async () => {
    const res = {};
    for (const name of ['node', 'ours']) {
      const w = new IMPLS[name].Worker('throw new TypeError("bad thing")', { eval: true });
      res[name] = await record(w);
    }
    assert.deepStrictEqual(res.ours, res.node);
    assert.deepStrictEqual(res.ours.map((e) => e[0]), ['online', 'error', 'exit']);
    const res2 = {};
    for (const name of ['node', 'ours']) {
      const w = new IMPLS[name].Worker('throw new Proxy({}, {})', { eval: true });
      res2[name] = await record(w);
    }
    assert.deepStrictEqual(res2.ours, res2.node);
  });

  it('delivers what a worker posted before process.exit(3), then exit 3', async () => {
    const res = {};
    for (const name of ['node', 'ours']) {
      const { w } = await startEcho(name);
      const events = record(w);
      w.postMessage({ cmd: 'burst', n: 500, thenExit: 3 });
      res[name] = await events;
    }
    assert.strictEqual(res.ours.length, 501);
    assert.deepStrictEqual(res.ours, res.node);
    assert.deepStrictEqual(res.ours[500], ['exit', 3]);
  });

  it('terminate() with messages in flight resolves the exit code and ends cleanly', async () => {
    for (const name of ['node', 'ours']) {
      const { w } = await startEcho(name);
      const events = record(w);
      w.postMessage({ cmd: 'burst', n: 100000 });
      await nextMessage(w);
      for (let i = 0; i < 1000; i++) w.postMessage({ i });
      const code = await w.terminate();
      assert.strictEqual(code, 1, name);
      const ev = await events;
      assert.deepStrictEqual(ev[ev.length - 1], ['exit', 1], name);
      const seqs = ev.filter((e) => e[0] === 'message').map((e) => e[1].seq);
      for (let i = 0; i < seqs.length; i++) assert.strictEqual(seqs[i], i, `${name}: in order`);
      w.postMessage('after exit: dropped'); // no throw, as in Node
    }
  });

  it('throws Node\'s errors for bad input, and keeps working after', async () => {
    for (const name of ['node', 'ours']) {
      const { Worker, MessageChannel, receiveMessageOnPort } = IMPLS[name];
      const codeOf = (fn) => { try { fn(); } catch (e) { return [e.name, e.code]; } return 'no throw'; };
      const c = new MessageChannel();
      const errs = [
        codeOf(() => new Worker('no-such-relative.js')),
        codeOf(() => new Worker(5)),
        codeOf(() => { new Worker(ECHO, 'options').terminate(); }),
        codeOf(() => c.port1.postMessage()),
        codeOf(() => c.port1.postMessage(() => 1)),
        codeOf(() => c.port1.postMessage({ f() {} })),
        codeOf(() => c.port1.postMessage(1, 5)),
        codeOf(() => c.port1.postMessage(1, [{}])),
        codeOf(() => c.port1.postMessage(1, [c.port1])),
        codeOf(() => { const ab = new ArrayBuffer(1); c.port1.postMessage(ab, [ab, ab]); }),
        codeOf(() => c.port1.postMessage({ p: c.port2 })),
        codeOf(() => receiveMessageOnPort(5)),
        codeOf(() => new IMPLS[name].MessagePort()),
      ];
      if (name === 'node') IMPLS.node.errs = errs;
      else assert.deepStrictEqual(errs, IMPLS.node.errs);
      // Still healthy: the same channel carries a message.
      c.port1.postMessage({ still: 'fine' });
      assert.deepStrictEqual(receiveMessageOnPort(c.port2), { message: { still: 'fine' } });
      assert.strictEqual(receiveMessageOnPort(c.port2), undefined);
      c.port1.close();
      c.port2.close();
    }
    assert.deepStrictEqual(IMPLS.node.errs[0], ['TypeError', 'ERR_WORKER_PATH']);
    assert.deepStrictEqual(IMPLS.node.errs[4], ['DataCloneError', 25]);
    const { w } = await startEcho('ours');
    w.postMessage('ok');
    assert.strictEqual(await nextMessage(w), 'ok');
    await w.terminate();
  });

  it('closing a port emits close on both ends after what was sent arrives', async () => {
    const { port1, port2 } = new ours.MessageChannel();
    const got = [];
    port2.on('message', (m) => got.push(m));
    const closed = Promise.all([
      new Promise((r) => port1.once('close', r)),
      new Promise((r) => port2.once('close', r)),
    ]);
    port1.postMessage(1);
    port1.postMessage({ two: 2 });
    port1.close();
    port1.postMessage('after close: dropped');
    await closed;
    assert.deepStrictEqual(got, [1, { two: 2 }]);
  });

  it('close() right after more messages than the ring holds still delivers them all', async () => {
    const { port1, port2 } = new ours.MessageChannel();
    const n = 10000; // ~1 MB: four times the ring
    let got = 0;
    const closed = new Promise((resolve, reject) => {
      port2.on('message', (m) => { if (m.seq !== got++) reject(new Error(`seq ${m.seq}`)); });
      port2.once('close', resolve);
    });
    for (let i = 0; i < n; i++) port1.postMessage({ seq: i, pad: 'z'.repeat(80) });
    port1.close();
    port1.postMessage('after close: dropped');
    await closed;
    assert.strictEqual(got, n);
  });

  it('runs microtasks between messages, as Node\'s ports do', async () => {
    const order = {};
    for (const name of ['node', 'ours']) {
      const { port1, port2 } = new IMPLS[name].MessageChannel();
      const log = [];
      const done = new Promise((resolve) => {
        port2.on('message', (m) => {
          log.push(`m${m}`);
          Promise.resolve().then(() => log.push(`p${m}`));
          if (m === 3) setImmediate(resolve);
        });
      });
      port1.postMessage(1); port1.postMessage(2); port1.postMessage(3);
      await done;
      port1.close();
      order[name] = log;
    }
    assert.deepStrictEqual(order.ours, order.node);
  });

  it('runs nextTick callbacks and microtasks between every two of many messages, as Node does', async () => {
    const order = {};
    for (const name of ['node', 'ours']) {
      const { port1, port2 } = new IMPLS[name].MessageChannel();
      const log = [];
      const n = 300;
      const done = new Promise((resolve) => {
        port2.on('message', (m) => {
          log.push(`m${m}`);
          process.nextTick(() => {
            log.push(`t${m}`);
            Promise.resolve().then(() => log.push(`tp${m}`));
          });
          Promise.resolve().then(() => {
            log.push(`p${m}`);
            process.nextTick(() => log.push(`pt${m}`));
          });
          queueMicrotask(() => log.push(`q${m}`));
          if (m === n - 1) setImmediate(resolve);
        });
      });
      for (let i = 0; i < n; i++) port1.postMessage(i);
      await done;
      port1.close();
      order[name] = log;
    }
    assert.strictEqual(order.ours.length, order.node.length);
    assert.deepStrictEqual(order.ours, order.node);
  });

  it('a listener that throws does not lose or reorder the messages after it', async () => {
    const got = {};
    for (const name of ['node', 'ours']) {
      const { port1, port2 } = new IMPLS[name].MessageChannel();
      const seen = [];
      const errors = [];
      const onUncaught = (err) => errors.push(err.message);
      process.prependListener('uncaughtException', onUncaught);
      // mocha's own handler would fail the test: keep it aside meanwhile.
      const others = process.listeners('uncaughtException').filter((l) => l !== onUncaught);
      for (const l of others) process.removeListener('uncaughtException', l);
      try {
        await new Promise((resolve) => {
          port2.on('message', (m) => {
            seen.push(m);
            if (m === 19) setImmediate(resolve);
            if (m % 5 === 2) throw new Error(`boom ${m}`);
          });
          for (let i = 0; i < 20; i++) port1.postMessage(i);
        });
      } finally {
        process.removeListener('uncaughtException', onUncaught);
        for (const l of others) process.on('uncaughtException', l);
      }
      port1.close();
      got[name] = { seen, errors };
    }
    assert.deepStrictEqual(got.ours, got.node);
    assert.deepStrictEqual(got.ours.seen, Array.from({ length: 20 }, (_, i) => i));
  });

  it('an unref\'d port does not keep the process alive; a listening one does', async () => {
    const lib = JSON.stringify(path.join(__dirname, '..', 'lib', 'worker_threads.js'));
    const unrefd = await runScript(`const { MessageChannel } = require(${lib});
      const { port1 } = new MessageChannel(); port1.on('message', () => {}); port1.unref();`);
    assert.strictEqual(unrefd.code, 0, unrefd.stderr);
    const refd = await runScript(`const { MessageChannel } = require(${lib});
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (m) => { console.log('got', m); port1.close(); });
      setTimeout(() => port2.postMessage('late'), 200).unref();`);
    assert.strictEqual(refd.code, 0, refd.stderr);
    assert.strictEqual(refd.stdout.trim(), 'got late');
  });

  it('an idle worker and idle ports cost no CPU (no polling)', async () => {
    const { w } = await startEcho('ours');
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const used = process.cpuUsage(before);
    // Polling would burn a core for the 500 ms; idle costs near nothing.
    assert.ok(used.user + used.system < 150000, `cpu ${used.user + used.system} us`);
    w.postMessage('still there');
    assert.strictEqual(await nextMessage(w), 'still there');
    await w.terminate();
  });

  it('carries many messages each way in order (backlog beyond the ring)', async () => {
    const n = process.env.NW_STRESS ? 1000000 : 30000;
    const { w } = await startEcho('ours');
    let expect = 0;
    const back = new Promise((resolve, reject) => {
      w.on('message', (m) => {
        if (m.seq !== expect) reject(new Error(`got ${m.seq}, expected ${expect}`));
        if (++expect === n) resolve();
      });
    });
    w.postMessage({ cmd: 'burst', n });
    // And the other way at the same time, echoed back after the burst.
    for (let i = 0; i < n; i++) w.postMessage({ seq: i, pad: 'x'.repeat(i % 50) });
    await back;
    expect = 0;
    await new Promise((resolve, reject) => {
      w.removeAllListeners('message');
      w.on('message', (m) => {
        if (m.seq !== expect) reject(new Error(`echo ${m.seq}, expected ${expect}`));
        if (++expect === n) resolve();
      });
    });
    await w.terminate();
  });

  it('four workers pass tokens along a chain of transferred MessageChannels', async () => {
    const { Worker, MessageChannel } = ours;
    const links = 4;
    const tokens = process.env.NW_STRESS ? 200000 : 2000;
    const workers = [];
    const exits = [];
    const chans = [];
    for (let i = 0; i <= links; i++) chans.push(new MessageChannel());
    for (let i = 0; i < links; i++) {
      const w = new Worker(RELAY, { argv: ['ours'], workerData: { index: i + 1 } });
      workers.push(w);
      exits.push(new Promise((r) => w.once('exit', r)));
      const from = chans[i].port2;
      const to = chans[i + 1].port1;
      w.postMessage({ from, to }, [from, to]);
      assert.strictEqual(await nextMessage(w), 'ready');
    }
    const head = chans[0].port1;
    const tail = chans[links].port2;
    let expect = 0;
    const done = new Promise((resolve, reject) => {
      tail.on('message', (tok) => {
        if (tok.seq !== expect++ || tok.sum !== 10) reject(new Error(`bad token ${JSON.stringify(tok)}`));
        if (tok.last) resolve();
      });
    });
    for (let i = 0; i < tokens; i++) head.postMessage({ seq: i, sum: 0, last: i === tokens - 1 });
    await done;
    assert.strictEqual(expect, tokens);
    const codes = await Promise.all(exits);
    assert.deepStrictEqual(codes, [0, 0, 0, 0]);
    head.close();
    tail.close();
  });

  it('leaves no doorbell behind once workers and ports are gone', async () => {
    // Teardown of the last workers may still be under way (slower under
    // AddressSanitizer): give it up to two seconds.
    for (let i = 0; i < 40 && binding.bellLive() > bellsBefore; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(binding.bellLive() <= bellsBefore, `doorbells: ${bellsBefore} -> ${binding.bellLive()}`);
  });
});
