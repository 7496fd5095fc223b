'use strict';

// Differential tests: the same scenario under node:child_process fork and
// native-workers' fork, comparing what a user sees (events in order,
// values, exit codes, signals, error codes).

const assert = require('assert');
const path = require('path');
const util = require('util');
const nodeCp = require('child_process');
const ours = require('../lib/child_process');

const ECHO = path.join(__dirname, 'fixtures', 'fork-echo.js');
const IDLE = path.join(__dirname, 'fixtures', 'fork-idle.js');
const impls = [['node', nodeCp], ['ours', ours]];

// Run `scenario(cp, log)` on a child of each implementation; resolves with
// the log of events up to 'close'.
function record(impl, scenario, args = [], options = {}) {
  return new Promise((resolve, reject) => {
    const log = [];
    const cp = impl.fork(ECHO, args, options);
    const timer = setTimeout(() => reject(new Error(`timeout: ${util.inspect(log)}`)), 20000);
    for (const e of ['spawn', 'disconnect', 'exit', 'error']) {
      cp.on(e, (...a) => log.push([e, ...a.map((x) => (x instanceof Error ? x.code || x.name : x))]));
    }
    cp.on('message', (m) => log.push(['message', m]));
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(log);
    };
    cp.on('close', (...a) => {
      log.push(['close', ...a]);
      finish();
    });
    // Node 20 never emits 'close' after the parent's own disconnect();
    // stop waiting a while after 'exit' so that case can be compared.
    cp.on('exit', () => setTimeout(finish, 1000));
    scenario(cp, log);
  });
}

async function both(scenario, args, options) {
  const out = {};
  for (const [name, impl] of impls) out[name] = await record(impl, scenario, args, options);
  return out;
}

function waitFor(cp, pred) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (pred(m)) {
        cp.removeListener('message', on);
        resolve(m);
      }
    };
    cp.on('message', on);
  });
}

describe('fork(): differential against node:child_process', function () {
  this.timeout(120000);

  it('echoes messages in order and reports the same events', async () => {
    const r = await both((cp) => {
      for (let i = 0; i < 50; i++) cp.send({ i, s: 'x'.repeat(i) });
      cp.send('a string');
      cp.send(42);
      cp.send(true);
      cp.send(null);
      cp.send([1, [2, { three: 3 }]]);
      // Small and large texts, ASCII and not, interleaved: order is kept.
      for (let i = 0; i < 20; i++) {
        cp.send({ big: 'y'.repeat(i * 300), i });
        cp.send(`ünïcödé ${i} \u{1f600}`);
        cp.send('');
      }
      cp.send({ cmd: 'disconnect' });
    });
    assert.deepStrictEqual(r.ours, r.node);
    assert.strictEqual(r.ours.filter((e) => e[0] === 'message').length, 115);
  });

  it('exit codes', async () => {
    const r = await both((cp) => cp.send({ cmd: 'exit', code: 7 }));
    assert.deepStrictEqual(r.ours, r.node);
    assert.deepStrictEqual(r.ours.find((e) => e[0] === 'exit'), ['exit', 7, null]);
  });

  it('signals: the child kills itself, and kill() from the parent', async () => {
    let r = await both((cp) => cp.send({ cmd: 'kill', sig: 'SIGTERM' }));
    assert.deepStrictEqual(r.ours, r.node);
    assert.deepStrictEqual(r.ours.find((e) => e[0] === 'exit'), ['exit', null, 'SIGTERM']);
    r = await both((cp) => {
      cp.once('spawn', () => {
        cp.send('hi');
        cp.once('message', () => {
          assert.strictEqual(cp.kill('SIGKILL'), true);
          assert.strictEqual(cp.killed, true);
        });
      });
    });
    assert.deepStrictEqual(r.ours, r.node);
    assert.deepStrictEqual(r.ours.find((e) => e[0] === 'exit'), ['exit', null, 'SIGKILL']);
  });

  it('disconnect from the parent: the child sees it and exits', async () => {
    const r = await both((cp) => {
      cp.send('one');
      cp.once('message', () => {
        cp.disconnect();
        assert.strictEqual(cp.connected, false);
      });
      cp.stdout.resume();
    }, ['--report-disconnect'], { silent: true });
    // Node 20 emits no 'close' after the parent's own disconnect() (its
    // channel never counts as closed), and neither do we.
    assert.deepStrictEqual(r.ours, r.node);
    assert.deepStrictEqual(r.ours.map((e) => e[0]), ['spawn', 'message', 'disconnect', 'exit']);
  });

  it('disconnect from the child: the parent sees it, connected turns false', async () => {
    const states = {};
    const r = await both((cp) => {
      cp.send({ cmd: 'disconnect' });
      cp.on('disconnect', () => { states[cp === undefined] = cp.connected; });
    });
    assert.deepStrictEqual(r.ours, r.node);
    assert.deepStrictEqual(Object.values(states), [false]);
  });

  it('silent: stdout and stderr are pipes', async () => {
    const out = {};
    for (const [name, impl] of impls) {
      const cp = impl.fork(ECHO, [], { silent: true });
      assert.ok(cp.stdout && cp.stderr && cp.stdin);
      assert.strictEqual(cp.stdio.length, 4);
      let o = '';
      let e = '';
      cp.stdout.on('data', (d) => { o += d; });
      cp.stderr.on('data', (d) => { e += d; });
      cp.send({ cmd: 'print', text: 'hello\n' });
      cp.send({ cmd: 'disconnect' });
      await new Promise((resolve) => cp.on('close', resolve));
      out[name] = [o, e];
    }
    assert.deepStrictEqual(out.ours, out.node);
    assert.deepStrictEqual(out.ours, ['hello\n', 'HELLO\n']);
  });

  it('a killed child: disconnect always comes before exit and close, as with Node', async () => {
    // The kernel closes the child's end of the channel before it reports
    // the exit, but the event loop may see the two in either order.
    for (let i = 0; i < 30; i++) {
      const log = await record(ours, () => {}, [], { signal: AbortSignal.abort() });
      assert.deepStrictEqual(log.map((e) => e[0]), ['spawn', 'error', 'disconnect', 'exit', 'close'], `run ${i}`);
    }
  });

  it('abort by signal and timeout kill', async () => {
    let r = await both((cp) => {}, [], { signal: AbortSignal.abort() });
    assert.deepStrictEqual(r.ours, r.node);
    const ac = {};
    r = {};
    for (const [name, impl] of impls) {
      ac[name] = new AbortController();
      r[name] = await record(impl, (cp) => {
        cp.send('x');
        cp.once('message', () => ac[name].abort());
      }, [], { signal: ac[name].signal });
    }
    assert.deepStrictEqual(r.ours, r.node);
    assert.ok(r.ours.some((e) => e[0] === 'error' && e[1] === 'ABORT_ERR'));
    r = await both((cp) => {}, [], { timeout: 200 });
    assert.deepStrictEqual(r.ours, r.node);
    assert.deepStrictEqual(r.ours.find((e) => e[0] === 'exit'), ['exit', null, 'SIGTERM']);
    r = await both((cp) => {}, [], { timeout: 200, killSignal: 'SIGKILL' });
    assert.deepStrictEqual(r.ours, r.node);
    assert.deepStrictEqual(r.ours.find((e) => e[0] === 'exit'), ['exit', null, 'SIGKILL']);
  });

  it("the child sees Node's IPC surface and no trace of the channel's plumbing", async () => {
    const r = await both((cp) => {
      cp.send({ cmd: 'info' });
      cp.once('message', () => cp.disconnect());
    }, ['a', 'b']);
    assert.deepStrictEqual(r.ours, r.node);
    assert.ok(!r.ours.some((e) => e[0] === 'close'));
    assert.deepStrictEqual(r.ours[1][1], { connected: true, env: [], execArgv: [], argv: ['a', 'b'], hasChannel: true });
  });

  it('json and advanced serialization give what Node gives for plain data and its edge cases', async () => {
    const shared = { s: 1 };
    const nullProto = Object.create(null);
    nullProto.k = 'v';
    const shapes = [];
    for (let i = 0; i < 40; i++) shapes.push({ [`k${i % 13}`]: i, same: 'x', n: i * 0.5 });
    const values = [
      { a: undefined, b: NaN, c: -0, d: Infinity, e: -Infinity, f: 1.5, g: 2 ** 40 },
      [1, undefined, 3, NaN, -0], -0, NaN, 'lone \ud800 surrogate', '\u00e9\u00ff latin1', 'wide \u4e2d',
      { when: new Date(5) }, { custom: { toJSON() { return 'tj'; } } }, { x: shared, y: shared },
      JSON.parse('{"__proto__": {"p": 1}, "q": 2}'), nullProto, { 2: 'two', 1: 'one', z: 'z' },
      Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`key${i}`, i])),
      ...shapes, { deep: { er: { est: [[[{ x: null }]]] } } }, [], {}, '', 0, true, false,
    ];
    for (const serialization of ['json', 'advanced']) {
      const got = {};
      // A function inside a value: JSON calls toJSON, clone refuses it.
      const sent = serialization === 'json' ? values : values.filter((v) => !(v && v.custom));
      for (const [name, impl] of impls) {
        const cp = impl.fork(ECHO, [], { serialization });
        const msgs = [];
        cp.on('message', (m) => msgs.push(m));
        for (const v of sent) cp.send(v);
        cp.send({ cmd: 'disconnect' });
        await new Promise((resolve) => cp.on('close', resolve));
        got[name] = msgs;
      }
      assert.strictEqual(got.ours.length, sent.length, serialization);
      for (let i = 0; i < sent.length; i++) {
        const label = `${serialization} value ${i}`;
        assert.strictEqual(util.inspect(got.ours[i], { depth: 8 }), util.inspect(got.node[i], { depth: 8 }), label);
        assert.ok(util.isDeepStrictEqual(got.ours[i], got.node[i]) ||
                  (Number.isNaN(got.ours[i]) && Number.isNaN(got.node[i])), label);
        if (got.node[i] !== null && typeof got.node[i] === 'object') {
          assert.strictEqual(Object.getPrototypeOf(got.ours[i]), Object.getPrototypeOf(got.node[i]), label);
        }
      }
      // JSON copies a shared object; clone keeps it shared.
      const i = sent.findIndex((v) => v && v.x === shared);
      assert.strictEqual(got.ours[i].x === got.ours[i].y, serialization === 'advanced');
      assert.strictEqual(got.node[i].x === got.node[i].y, serialization === 'advanced');
    }
  });

  it('advanced serialization: Map, Set, Date, RegExp, BigInt, typed arrays, errors, cycles', async () => {
    const cyc = { name: 'cyc' };
    cyc.self = cyc;
    const values = [
      new Map([[1, { a: 2 }], ['k', [3]]]), new Set([1, 'two']), new Date(1700000000000),
      /ab+c/gi, { big: 12345678901234567890n }, new Float64Array([1.5, -2]), new Uint8Array([1, 2, 3]),
      Buffer.from('buffer'), new Error('boom'), cyc, { nested: { deep: [undefined, null, NaN] } },
    ];
    const got = {};
    for (const [name, impl] of impls) {
      const cp = impl.fork(ECHO, [], { serialization: 'advanced' });
      const msgs = [];
      cp.on('message', (m) => msgs.push(m));
      for (const v of values) cp.send(v);
      cp.send({ cmd: 'disconnect' });
      await new Promise((resolve) => cp.on('close', resolve));
      got[name] = msgs;
    }
    assert.strictEqual(got.ours.length, values.length);
    for (let i = 0; i < values.length; i++) {
      assert.strictEqual(util.inspect(got.ours[i], { depth: 5 }), util.inspect(got.node[i], { depth: 5 }), `value ${i}`);
      assert.strictEqual(Object.getPrototypeOf(got.ours[i]), Object.getPrototypeOf(got.node[i]));
    }
    assert.ok(got.ours[9].self === got.ours[9]);
    assert.ok(Buffer.isBuffer(got.ours[7]) === Buffer.isBuffer(got.node[7]));
  });

  it('send() callbacks, send after disconnect, double disconnect', async () => {
    const out = {};
    for (const [name, impl] of impls) {
      const events = [];
      const cp = impl.fork(ECHO);
      const closed = new Promise((resolve) => cp.on('exit', resolve));
      await new Promise((resolve) => cp.send('x', (err) => { events.push(['cb', err]); resolve(); }));
      await waitFor(cp, (m) => m === 'x');
      cp.disconnect();
      const errs = [];
      cp.on('error', (e) => errs.push(e.code));
      await new Promise((resolve) => {
        assert.strictEqual(cp.send('late', (err) => { events.push(['late', err.code]); resolve(); }), false);
      });
      cp.send('no callback');
      cp.disconnect();
      await closed;
      events.push(['errors', errs]);
      out[name] = events;
    }
    assert.deepStrictEqual(out.ours, out.node);
    assert.deepStrictEqual(out.ours, [['cb', null], ['late', 'ERR_IPC_CHANNEL_CLOSED'],
      ['errors', ['ERR_IPC_DISCONNECTED', 'ERR_IPC_CHANNEL_CLOSED']]]);
  });

  it('a burst far beyond the channel, mixing callbacks, large and small messages, comes back whole and in order', async () => {
    const N = 30000;
    for (const serialization of ['json', 'advanced']) {
      const cp = ours.fork(ECHO, [], { serialization });
      const got = [];
      const done = new Promise((resolve, reject) => {
        cp.on('message', (m) => { if (m === 'END') resolve(); else got.push(m); });
        cp.once('exit', () => reject(new Error(`child exited after ${got.length} of ${N}`)));
      });
      const big = 'y'.repeat(70000);
      let cbs = 0;
      let queued = 0;
      for (let i = 0; i < N; i++) {
        let m;
        if (i % 997 === 0) m = { i, big };
        else if (i % 3 === 0) m = [i, 'text'];
        else m = { i, s: 'small' };
        const ok = i % 501 === 0 ? cp.send(m, (err) => { assert.ifError(err); cbs++; }) : cp.send(m);
        if (!ok) queued++;
      }
      cp.send('END');
      await done;
      assert.strictEqual(got.length, N);
      assert.ok(queued > 0, 'the burst never filled the channel: the test measures nothing');
      for (let i = 0; i < N; i++) {
        const m = got[i];
        const at = Array.isArray(m) ? m[0] : m.i;
        assert.strictEqual(at, i, `${serialization}: message ${i} came as ${util.inspect(m).slice(0, 80)}`);
        if (i % 997 === 0) assert.strictEqual(m.big, big);
      }
      assert.strictEqual(cbs, Math.ceil(N / 501));
      cp.kill();
    }
  });

  it('a listener that throws loses no message', async () => {
    const out = {};
    for (const [name, impl] of impls) {
      const cp = impl.fork(path.join(__dirname, 'fixtures', 'fork-throw.js'));
      for (const m of ['a', 'boom', 'b', 'boom', 'c', 'report']) cp.send(m);
      out[name] = await new Promise((resolve) => cp.once('message', resolve));
      cp.kill();
    }
    assert.deepStrictEqual(out.ours, out.node);
    assert.deepStrictEqual(out.ours, ['a', 'boom', 'caught boom', 'b', 'boom', 'caught boom', 'c']);
  });

  it('an idle child without a message listener exits on its own', async () => {
    for (const [, impl] of impls) {
      const cp = impl.fork(IDLE);
      const [code, sig] = await new Promise((resolve) => cp.on('exit', (...a) => resolve(a)));
      assert.deepStrictEqual([code, sig], [0, null]);
    }
  });

  it('a module that does not exist: the child exits with 1, as with Node', async () => {
    const out = {};
    for (const [name, impl] of impls) {
      const cp = impl.fork(path.join(__dirname, 'fixtures', 'no-such-module.js'), [], { silent: true });
      let err = '';
      cp.stderr.on('data', (d) => { err += d; });
      out[name] = await new Promise((resolve) => cp.on('close', (code, sig) => resolve([code, sig, /Cannot find module/.test(err)])));
    }
    assert.deepStrictEqual(out.ours, out.node);
    assert.deepStrictEqual(out.ours, [1, null, true]);
  });
});

describe('fork(): bad input has Node\'s error codes and leaves the process healthy', function () {
  this.timeout(60000);

  function codeOf(fn) {
    try {
      const cp = fn();
      if (cp && cp.kill) cp.kill();
      return 'no error';
    } catch (err) {
      return err.code || err.name;
    }
  }

  const bad = [
    ['modulePath number', (f) => f(123)],
    ['modulePath object', (f) => f({})],
    ['args not an array', (f) => f(ECHO, 'str')],
    ['args with a null byte', (f) => f(ECHO, ['a\u0000b'])],
    ['options not an object', (f) => f(ECHO, [], 5)],
    ['stdio without ipc', (f) => f(ECHO, [], { stdio: ['pipe', 'pipe', 'pipe'] })],
    ['two ipc', (f) => f(ECHO, [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'ipc'] })],
    ['bad serialization', (f) => f(ECHO, [], { serialization: 'xml' })],
    ['bad cwd type', (f) => f(ECHO, [], { cwd: 42 })],
    ['bad env values', (f) => f(ECHO, [], { env: { A: 'x\u0000y' } })],
    ['bad timeout', (f) => f(ECHO, [], { timeout: -1 })],
    ['bad killSignal', (f) => f(ECHO, [], { killSignal: 'SIGNOPE' })],
    ['bad signal', (f) => f(ECHO, [], { signal: 'abort' })],
    ['bad uid', (f) => f(ECHO, [], { uid: 'root' })],
    ['bad detached', (f) => f(ECHO, [], { detached: 'yes' })],
    ['execArgv with null byte', (f) => f(ECHO, [], { execArgv: ['--x\u0000'] })],
  ];
  for (const [name, call] of bad) {
    it(name, () => {
      const theirs = codeOf(() => call(nodeCp.fork));
      const mine = codeOf(() => call(ours.fork));
      assert.notStrictEqual(theirs, 'no error');
      assert.strictEqual(mine, theirs);
    });
  }

  it('unserialisable messages throw the same errors, and the channel still works', async () => {
    const out = {};
    for (const [name, impl] of impls) {
      const codes = [];
      for (const serialization of ['json', 'advanced']) {
        const cp = impl.fork(ECHO, [], { serialization });
        for (const m of [() => {}, Symbol('s'), undefined, 10n, { f() {} }, { b: 10n }]) {
          try {
            cp.send(m);
            codes.push('sent');
          } catch (err) {
            codes.push(err.code || err.name);
          }
        }
        try { cp.send('ok', null, 'not options'); } catch (err) { codes.push(err.code); }
        try { cp.send('ok', {}); } catch (err) { codes.push(err.code); }
        cp.send('still alive');
        const got = await waitFor(cp, (m) => m === 'still alive');
        codes.push(got);
        // (Node defers disconnect() forever after a refused handle, so end
        // the child with a signal.)
        const closed = new Promise((resolve) => cp.on('close', resolve));
        cp.kill();
        await closed;
      }
      out[name] = codes;
    }
    assert.deepStrictEqual(out.ours, out.node);
    assert.ok(out.ours.includes('ERR_INVALID_ARG_TYPE') && out.ours.includes('ERR_MISSING_ARGS'));
  });
});

describe('fork(): from a worker thread that terminates', function () {
  this.timeout(60000);

  it('the channel is torn down with the worker and the child sees disconnect', async () => {
    const { Worker } = require('worker_threads');
    const code = `
      const { parentPort } = require('worker_threads');
      const { fork } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'child_process'))});
      const warnings = [];
      process.on('warning', (w) => warnings.push(w.message));
      const cp = fork(${JSON.stringify(ECHO)}, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      cp.on('message', (m) => setImmediate(() => parentPort.postMessage({ pid: cp.pid, m, warnings })));
      cp.send('from worker');
      setInterval(() => {}, 1000);
    `;
    const w = new Worker(code, { eval: true });
    const { pid, m, warnings } = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.strictEqual(await w.terminate(), 1);
    assert.strictEqual(m, 'from worker');
    // Descriptors the addon made are closed by the addon: Node's tracking of
    // a worker's file descriptors has nothing to warn about.
    assert.deepStrictEqual(warnings, []);
    // The child lost its peer: it gets 'disconnect', which drops its
    // 'message' listener's hold on the loop, and exits.
    const gone = () => { try { process.kill(pid, 0); return false; } catch { return true; } };
    for (let i = 0; i < 200 && !gone(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.ok(gone(), 'child still running');
    // This process is healthy: fork still works here.
    const cp = ours.fork(ECHO);
    const back = await new Promise((resolve) => { cp.once('message', resolve); cp.send('after'); });
    assert.strictEqual(back, 'after');
    cp.kill();
  });
});
