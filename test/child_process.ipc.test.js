'use strict';

// 'ipc' in the stdio of spawn(): the child is a plain Node process (no
// preload) and the channel speaks Node's own protocol. Differential: each
// scenario runs under node:child_process spawn and under ours, and what a
// user sees (messages in order, events, exit codes, error codes) must match.

const assert = require('assert');
const fs = require('fs');
const net = require('net');
const path = require('path');
const util = require('util');
const nodeCp = require('child_process');
const ours = require('../lib/child_process');

const FIX = path.join(__dirname, 'fixtures');
const ECHO = path.join(FIX, 'ipc-echo.js');
const SENDER = path.join(FIX, 'ipc-sender.js');
const HANDLE = path.join(FIX, 'ipc-handle.js');
const impls = [['node', nodeCp], ['ours', ours]];
const STDIO = ['pipe', 'pipe', 'pipe', 'ipc'];

// Start `script` under `impl` and run `scenario(child, log)`; resolves with
// the log once the child has exited and its channel is closed. 'close' is
// not waited for: Node 20 never emits it after the parent's own
// disconnect().
function record(impl, script, args, options, scenario) {
  return new Promise((resolve, reject) => {
    const log = [];
    const child = impl.spawn(process.execPath, [script, ...args], { stdio: STDIO, ...options });
    const timer = setTimeout(() => reject(new Error(`timeout: ${util.inspect(log)}`)), 30000);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('message', (m) => log.push(['message', m]));
    child.on('error', (e) => log.push(['error', e.code]));
    let exited = false;
    let disconnected = false;
    const maybeDone = () => {
      if (!exited || !disconnected) return;
      clearTimeout(timer);
      // stdout may still be draining: wait for its end.
      if (child.stdout.readableEnded) resolve({ log, out });
      else child.stdout.on('end', () => resolve({ log, out }));
    };
    child.on('disconnect', () => {
      log.push(['disconnect', child.connected]);
      disconnected = true;
      maybeDone();
    });
    child.on('exit', (code, signal) => {
      log.push(['exit', code, signal]);
      exited = true;
      maybeDone();
    });
    scenario(child, log);
  });
}

// The exit of the child and the hang-up of its channel race; compare the
// log with 'exit' moved to the end.
function normalize({ log, out }) {
  const exit = log.filter((e) => e[0] === 'exit');
  return { log: [...log.filter((e) => e[0] !== 'exit'), ...exit], out };
}

async function both(script, args, options, scenario) {
  const r = {};
  for (const [name, impl] of impls) r[name] = normalize(await record(impl, script, args, options, scenario));
  assert.deepStrictEqual(r.ours, r.node);
  return r.ours;
}

function sample() {
  const circ = {
    map: new Map([['a', 1], [2, new Set([3n, 'x'])]]),
    date: new Date(1700000000000),
    big: 12345678901234567890n,
    buf: Buffer.from('héllo'),
    u16: new Uint16Array([1, 65535]),
    f64: new Float64Array([0.5, -Infinity]),
    re: /ab+c/gi,
    nested: [null, undefined, true, 'ü€😀'],
  };
  circ.self = circ;
  return circ;
}

describe("spawn with 'ipc' in stdio: Node's IPC protocol to a plain Node child", function () {
  this.timeout(60000);

  for (const serialization of ['json', 'advanced']) {
    it(`${serialization}: echoes messages both ways, send() returns true and calls back`, async () => {
      const msgs = serialization === 'json'
        ? [1, 'two', { three: [3, { x: null }] }, true, 'ü€😀\n"quoted"', { cmd: 'not-internal' }, 'x'.repeat(200000)]
        : [1, 'two', sample(), [new Map([[{}, []]])], { cmd: 'env' }, Buffer.alloc(300000, 7)];
      const r = await both(ECHO, [], { serialization }, (child, log) => {
        child.send({ cmd: 'env' });
        for (const m of msgs) log.push(['send', child.send(m, (err) => log.push(['cb', err]))]);
        child.once('message', () => {});
        let seen = 0;
        child.on('message', () => {
          if (++seen === msgs.length + 1) child.send('disconnect');
        });
      });
      const received = r.log.filter((e) => e[0] === 'message').map((e) => e[1]);
      // Node removes both variables before user code runs.
      assert.deepStrictEqual(received[0], serialization === 'json'
        ? { connected: true } : { mode: undefined, fd: undefined, connected: true });
      assert.deepStrictEqual(received.length, msgs.length + 1);
      assert.strictEqual(r.out, 'child saw disconnect\n');
      assert.deepStrictEqual(r.log.at(-1), ['exit', 0, null]);
    });
  }

  it('advanced: the values arrive with their types (Map, Set, Date, BigInt, Buffer, circular)', async () => {
    const got = await new Promise((resolve, reject) => {
      const child = ours.spawn(process.execPath, [ECHO], { stdio: STDIO, serialization: 'advanced' });
      child.on('error', reject);
      child.once('message', (m) => {
        child.kill();
        resolve(m);
      });
      child.send(sample());
    });
    assert.ok(got.map instanceof Map && got.map.get(2) instanceof Set && got.map.get(2).has(3n));
    assert.ok(got.date instanceof Date && got.date.getTime() === 1700000000000);
    assert.strictEqual(got.big, 12345678901234567890n);
    assert.ok(Buffer.isBuffer(got.buf) && got.buf.toString() === 'héllo');
    assert.ok(got.u16 instanceof Uint16Array && got.u16[1] === 65535);
    assert.ok(got.f64 instanceof Float64Array && got.f64[1] === -Infinity);
    assert.strictEqual(got.self, got);
    assert.strictEqual(String(got.re), '/ab+c/gi');
  });

  for (const serialization of ['json', 'advanced']) {
    it(`${serialization}: 10,000 messages each way keep their order`, async () => {
      const N = 10000;
      const r = await both(ECHO, [], { serialization }, (child) => {
        let got = 0;
        let bad = null;
        child.on('message', (m) => {
          if (m.seq !== got % N && bad === null) bad = `at ${got}: ${util.inspect(m)}`;
          got++;
          if (got === N) child.send({ cmd: 'burst', n: N, pad: 'p'.repeat(got % 7) });
          if (got === 2 * N) child.send(bad === null ? 'disconnect' : 'exit');
        });
        for (let i = 0; i < N; i++) child.send({ seq: i });
      });
      assert.strictEqual(r.log.length, 2 * N + 2);
      assert.deepStrictEqual(r.log.at(-1), ['exit', 0, null]);
    });
  }

  it('the child disconnects: disconnect, connected false, exit code kept', async () => {
    const r = await both(SENDER, ['4', 'disconnect'], {}, () => {});
    assert.deepStrictEqual(r.log, [
      ['message', { i: 0, text: 'm0' }], ['message', { i: 1, text: 'm1' }],
      ['message', { i: 2, text: 'm2' }], ['message', { i: 3, text: 'm3' }],
      ['disconnect', false], ['exit', 3, null],
    ]);
  });

  it('the child exits: everything it sent arrives, then disconnect', async () => {
    const r = await both(SENDER, ['50', 'exit'], { serialization: 'advanced' }, () => {});
    assert.strictEqual(r.log.length, 52);
    assert.deepStrictEqual(r.log.slice(-2), [['disconnect', false], ['exit', 5, null]]);
  });

  it('a child killed by a signal: disconnect and the signal, no hang', async () => {
    const r = await both(ECHO, [], {}, (child) => {
      child.once('message', () => child.kill('SIGKILL'));
      child.send('ping');
    });
    assert.deepStrictEqual(r.log, [['message', 'ping'], ['disconnect', false], ['exit', null, 'SIGKILL']]);
  });

  it('a killed child: disconnect always comes before exit and close, as with Node', async () => {
    // The kernel closes the child's end of the pipe before it reports the
    // exit, but the event loop may see the two in either order.
    for (let i = 0; i < 30; i++) {
      const events = await new Promise((resolve) => {
        const log = [];
        const child = ours.spawn(process.execPath, ['-e', '0'], {
          stdio: ['ignore', 'ignore', 'ignore', 'ipc'], signal: AbortSignal.abort(),
        });
        for (const e of ['spawn', 'error', 'disconnect', 'exit']) child.on(e, () => log.push(e));
        child.on('close', () => { log.push('close'); resolve(log); });
      });
      assert.deepStrictEqual(events, ['spawn', 'error', 'disconnect', 'exit', 'close'], `run ${i}`);
    }
  });

  it('the parent disconnects: the child sees it, send() after fails with ERR_IPC_CHANNEL_CLOSED', async () => {
    const r = await both(ECHO, [], {}, (child, log) => {
      child.send('hello');
      child.once('message', (m) => {
        log.push(['got', m]);
        child.disconnect();
        log.push(['after', child.connected, child.channel]);
        log.push(['send', child.send('late', (err) => log.push(['cb', err.code, err.message]))]);
        child.once('error', (err) => log.push(['error-event', err.code]));
        log.push(['send', child.send('late2')]);
        child.disconnect(); // a second time: an 'error' event
      });
    });
    const seen = r.log.filter((e) => e[0] !== 'message');
    assert.deepStrictEqual(seen.slice(0, 4), [['got', 'hello'], ['after', false, null], ['send', false], ['send', false]]);
    assert.ok(seen.some((e) => e[0] === 'cb' && e[1] === 'ERR_IPC_CHANNEL_CLOSED'));
    assert.ok(seen.some((e) => e[0] === 'error' && e[1] === 'ERR_IPC_DISCONNECTED'));
    assert.deepStrictEqual(seen.at(-1), ['exit', 0, null]);
    assert.strictEqual(r.out, 'child saw disconnect\n');
  });

  it("our 'close' follows the channel and the stdio, with the exit code", async () => {
    const child = ours.spawn(process.execPath, [SENDER, '2', 'disconnect'], { stdio: STDIO });
    const events = [];
    child.on('message', (m) => events.push(m.i));
    for (const e of ['disconnect', 'exit']) child.on(e, () => events.push(e));
    const closeArgs = await new Promise((resolve) => child.on('close', (...a) => resolve(a)));
    assert.deepStrictEqual(closeArgs, [3, null]);
    assert.deepStrictEqual(events.slice(0, 2), [0, 1]);
    assert.deepStrictEqual(new Set(events.slice(2)), new Set(['disconnect', 'exit']));
  });

  it('ref/unref: the channel keeps the parent alive until channel.unref(), as in Node', async () => {
    const script = (mod, unrefChannel, listen) => `
      const cp = require(${JSON.stringify(mod)});
      const c = cp.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 2000)'],
        { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      c.unref();
      ${listen ? "c.on('message', () => {});" : ''}
      ${unrefChannel ? 'c.channel.unref();' : ''}
      const t0 = Date.now();
      process.on('exit', () => { process.stdout.write(Date.now() - t0 > 1000 ? 'held' : 'free'); c.kill('SIGKILL'); });`;
    const run = (mod, unrefChannel, listen) => new Promise((resolve, reject) => {
      nodeCp.execFile(process.execPath, ['-e', script(mod, unrefChannel, listen)], (err, stdout) => {
        if (err) reject(err);
        else resolve(stdout);
      });
    });
    const oursPath = path.join(__dirname, '..', 'lib', 'child_process.js');
    const cases = [[false, false], [true, false], [true, true]];
    const got = { node: [], ours: [] };
    await Promise.all(cases.map(async ([u, l], i) => {
      got.node[i] = await run('child_process', u, l);
      got.ours[i] = await run(oursPath, u, l);
    }));
    assert.deepStrictEqual(got.ours, got.node);
    assert.deepStrictEqual(got.ours, ['held', 'free', 'free']);
  });

  it('child.channel has ref, unref and the parent descriptor', () => {
    const child = ours.spawn(process.execPath, [ECHO], { stdio: STDIO });
    try {
      assert.strictEqual(typeof child.channel.ref, 'function');
      assert.strictEqual(typeof child.channel.unref, 'function');
      assert.ok(Number.isInteger(child.channel.fd) && child.channel.fd > 2);
      assert.strictEqual(child.connected, true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  for (const serialization of ['json', 'advanced']) {
    it(`${serialization}: passes a net.Server, a net.Socket and a dgram.Socket to the child, and a net.Server back`, async () => {
      const run = async (impl) => {
        const child = impl.spawn(process.execPath, [HANDLE], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization });
        const msgs = [];
        const next = () => new Promise((resolve) => child.once('message', (m) => { msgs.push(m); resolve(m); }));
        const server = net.createServer((s) => s.end('parent\n'));
        await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
        const port = server.address().port;
        const cbs = [];
        const sent = child.send('server', server, (err) => cbs.push(err));
        await next();
        await new Promise((resolve) => server.close(resolve));
        const reply = await new Promise((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1');
          let d = '';
          s.on('data', (x) => { d += x; });
          s.on('end', () => resolve(d));
          s.on('error', reject);
        });
        // A connected socket: the child writes on it and ends it.
        const pair = await new Promise((resolve) => {
          const srv = net.createServer((s) => { srv.close(); resolve([client, s]); });
          let client;
          srv.listen(0, '127.0.0.1', () => { client = net.connect(srv.address().port, '127.0.0.1'); });
        });
        const fromChild = new Promise((resolve) => {
          let d = '';
          pair[0].on('data', (x) => { d += x; });
          pair[0].on('end', () => resolve(d));
        });
        child.send('socket', pair[1]);
        await next();
        const text = await fromChild;
        // A bound dgram.Socket: the child receives a datagram on it.
        const udp = require('dgram').createSocket('udp4');
        await new Promise((resolve) => udp.bind(0, '127.0.0.1', resolve));
        const udpPort = udp.address().port;
        child.send('dgram', udp);
        await next();
        udp.close();
        const gotDgram = next();
        const sender = require('dgram').createSocket('udp4');
        sender.send('datagram', udpPort, '127.0.0.1', () => sender.close());
        await gotDgram;
        child.send('plain');
        await next();
        // And back: the child passes a server of its own to us.
        const [given, srv] = await new Promise((resolve) => {
          child.once('message', (m, h) => resolve([m, h]));
          child.send('give');
        });
        msgs.push(given.port > 0);
        const fromGiven = await new Promise((resolve, reject) => {
          srv.on('connection', (s) => s.end('served here\n'));
          const s = net.connect(given.port, '127.0.0.1');
          let d = '';
          s.on('data', (x) => { d += x; });
          s.on('end', () => resolve(d));
          s.on('error', reject);
        });
        msgs.push(srv instanceof net.Server, fromGiven);
        srv.close();
        child.send('bye');
        await new Promise((resolve) => child.on('exit', resolve));
        return { sent, cbs, reply: reply.replace(/\d+/, 'PID'), text, msgs, destroyed: pair[1].destroyed };
      };
      const node = await run(nodeCp);
      const got = await run(ours);
      assert.deepStrictEqual(got, node);
      assert.strictEqual(got.reply, 'child PID\n');
      assert.strictEqual(got.text, 'from child\n');
      assert.deepStrictEqual(got.msgs.slice(-3), [true, true, 'served here\n']);
      assert.deepStrictEqual(got.msgs.find((m) => m.got === 'dgram'), { got: 'dgram', data: 'datagram', type: 'udp4' });
    });
  }

  it("stdio 'ipc' at another index sets NODE_CHANNEL_FD to it", async () => {
    const code = "process.stdout.write(String(process.env.NODE_CHANNEL_FD) + ' ' + typeof process.send); process.disconnect()";
    const out = await new Promise((resolve, reject) => {
      const child = ours.spawn('/bin/sh', ['-c', `echo "$NODE_CHANNEL_FD $NODE_CHANNEL_SERIALIZATION_MODE"; exec "${process.execPath}" -e "${code}"`],
        { stdio: ['ignore', 'pipe', 'inherit', 'ignore', 'ignore', 'ipc'], serialization: 'advanced' });
      let d = '';
      child.stdout.on('data', (x) => { d += x; });
      child.on('error', reject);
      child.on('close', () => resolve(d));
    });
    assert.strictEqual(out, '5 advanced\nundefined function');
  });

  describe('bad input, with Node\'s codes', () => {
    const attempt = (impl, f) => {
      try {
        return f(impl);
      } catch (e) {
        return { name: e.name, code: e.code };
      }
    };

    it("two 'ipc' entries: ERR_IPC_ONE_PIPE, and nothing leaks", () => {
      const before = fs.readdirSync('/proc/self/fd').length;
      for (const [, impl] of impls) {
        assert.deepStrictEqual(attempt(impl, (cp) => cp.spawn(process.execPath, [ECHO], { stdio: [...STDIO, 'ipc'] })),
          { name: 'Error', code: 'ERR_IPC_ONE_PIPE' });
      }
      assert.strictEqual(fs.readdirSync('/proc/self/fd').length, before);
    });

    it("'ipc' in spawnSync: ERR_IPC_SYNC_FORK", () => {
      for (const [, impl] of impls) {
        assert.deepStrictEqual(attempt(impl, (cp) => cp.spawnSync(process.execPath, [ECHO], { stdio: STDIO })),
          { name: 'Error', code: 'ERR_IPC_SYNC_FORK' });
      }
    });

    for (const serialization of ['json', 'advanced']) {
      it(`${serialization}: unserializable messages throw as in Node and the channel keeps working`, async () => {
        const circ = {};
        circ.self = circ;
        const bad = [
          () => {}, Symbol('s'), undefined, 10n, circ, { f() {} }, { s: Symbol('x') }, [new WeakMap()],
        ];
        const results = {};
        for (const [name, impl] of impls) {
          const child = impl.spawn(process.execPath, [ECHO], { stdio: STDIO, serialization });
          results[name] = bad.map((m) => attempt(child, (c) => {
            const r = c.send(m);
            return r === true ? 'sent' : r;
          }));
          // Still usable afterwards: what was valid went out, and a good message echoes.
          const echoed = [];
          await new Promise((resolve) => {
            child.on('message', (m) => {
              echoed.push(m);
              if (m === 'still ok') resolve();
            });
            child.send('still ok');
          });
          results[name].push(echoed);
          child.kill('SIGKILL');
          await new Promise((resolve) => child.on('close', resolve));
        }
        assert.deepStrictEqual(results.ours, results.node);
        assert.deepStrictEqual(results.ours.slice(0, 3), [
          { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' },
          { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' },
          { name: 'TypeError', code: 'ERR_MISSING_ARGS' },
        ]);
      });
    }

    it('an invalid handle or options: ERR_INVALID_HANDLE_TYPE, ERR_INVALID_ARG_TYPE', async () => {
      const results = {};
      for (const [name, impl] of impls) {
        const child = impl.spawn(process.execPath, [ECHO], { stdio: STDIO });
        results[name] = [
          attempt(child, (c) => c.send('x', {})),
          attempt(child, (c) => c.send('x', undefined, 5)),
          attempt(child, (c) => c.send('x', null, 'str')),
        ];
        child.kill('SIGKILL');
        await new Promise((resolve) => child.on('close', resolve));
      }
      assert.deepStrictEqual(results.ours, results.node);
      assert.deepStrictEqual(results.ours[0], { name: 'TypeError', code: 'ERR_INVALID_HANDLE_TYPE' });
    });
  });

  it('the IPC bindings answer garbage with errors, not crashes', () => {
    const binding = require('../lib/internal/binding');
    const cases = [
      () => binding.ipcReaderStart(),
      () => binding.ipcReaderStart(-1, () => {}),
      () => binding.ipcReaderStart('3', () => {}),
      () => binding.ipcReaderStart(0, 'not a function'),
      () => binding.ipcReaderStart(123456, () => {}),
      () => binding.ipcReaderRef({}, true),
      () => binding.ipcReaderRef(null),
      () => binding.ipcReaderClose(),
      () => binding.ipcReaderClose({}),
      () => binding.ipcSendWithFd(),
      () => binding.ipcSendWithFd(1, 'text', 2),
      () => binding.ipcSendWithFd('1', Buffer.alloc(1), 2),
    ];
    for (const f of cases) assert.throws(f, (e) => typeof e.code === 'string', String(f));
    // A descriptor that is no socket, or an empty buffer: a negative errno.
    assert.ok(binding.ipcSendWithFd(123456, Buffer.from('x'), 0) < 0);
    assert.ok(binding.ipcSendWithFd(0, Buffer.alloc(0), 0) < 0);
    // A reader closed twice is fine.
    const [a, b] = binding.socketpair();
    const r = binding.ipcReaderStart(a, () => {});
    binding.ipcReaderRef(r, false);
    binding.ipcReaderClose(r);
    binding.ipcReaderClose(r);
    binding.closeFd(a);
    binding.closeFd(b);
  });

  it('fifty channels: no descriptor leaks', async function () {
    this.timeout(120000);
    const count = () => fs.readdirSync('/proc/self/fd').length;
    const before = count();
    for (let i = 0; i < 10; i++) {
      await Promise.all(Array.from({ length: 5 }, () => new Promise((resolve) => {
        const child = ours.spawn(process.execPath, [SENDER, '1', 'disconnect'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
        child.on('close', resolve);
      })));
    }
    // Sockets close on a later turn of the loop.
    for (let i = 0; i < 50 && count() > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.strictEqual(count(), before);
  });
});
