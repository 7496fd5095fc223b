'use strict';

// Issue 11, child_process: cases where a program that swaps
// node:child_process for native-workers/child_process used to see a
// difference. Each scenario runs under both; what a user sees must match.

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const nodeCp = require('child_process');
const ours = require('../lib/child_process');

const impls = [['node', nodeCp], ['ours', ours]];

async function same(scenario) {
  const out = {};
  for (const [name, cp] of impls) out[name] = await scenario(cp, name);
  assert.deepStrictEqual(out.ours, out.node);
  return out.ours;
}

function errFields(e) {
  if (!e) return e;
  const o = { name: e.name, message: e.message };
  for (const k of ['code', 'errno', 'syscall', 'path', 'spawnargs', 'status']) {
    if (k in e) o[k] = e[k];
  }
  return o;
}

// A promise that fails the test instead of hanging it.
function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise,
    new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms (hang)`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Spawn through `start(cp)` and record the lifecycle events, the output and
// a callback's arguments, until 'close'.
function record(cp, start) {
  return within(20000, 'child', new Promise((resolve) => {
    const events = [];
    let out = '';
    let child;
    try {
      child = start(cp, (err, stdout) => events.push(['callback', errFields(err), stdout]));
    } catch (e) {
      resolve({ thrown: errFields(e) });
      return;
    }
    if (child.stdout) child.stdout.on('data', (d) => { out += d; });
    child.on('message', (m) => { out += m; });
    child.on('error', (e) => events.push(['error', errFields(e)]));
    child.on('exit', (code, signal) => events.push(['exit', code, signal]));
    child.on('close', () => setImmediate(() => resolve({ events, out })));
  }));
}

function syncOutcome(fn) {
  try {
    const v = fn();
    if (v && typeof v === 'object' && 'status' in v) {
      return { status: v.status, stdout: v.stdout && String(v.stdout), error: errFields(v.error) };
    }
    return { value: String(v) };
  } catch (e) {
    return { thrown: errFields(e) };
  }
}

describe('child_process fidelity (issue 11, differential)', function () {
  this.timeout(60000);

  describe("cwd: '' and cwd of other types", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-cwd-'));
    const pwdChild = path.join(dir, 'pwd-child.js');
    fs.writeFileSync(pwdChild, 'process.send(process.cwd(), () => process.disconnect())\n');
    // A directory named '47' beside it: what a Uint8Array [52, 55] names
    // once spawnSync turns it into a string.
    fs.mkdirSync(path.join(dir, '47'));
    const here = process.cwd();
    before(() => process.chdir(dir));
    after(() => {
      process.chdir(here);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("spawn, exec, execFile and fork start in the parent's directory", async () => {
      for (const cwd of ['', Buffer.from('/'), new Uint8Array(0)]) {
        const r = await same((cp) => record(cp, (c) => c.spawn('pwd', [], { cwd })));
        assert.strictEqual(r.out, `${fs.realpathSync(dir)}\n`);
      }
      await same((cp) => record(cp, (c, cb) => c.exec('pwd', { cwd: '' }, cb)));
      await same((cp) => record(cp, (c, cb) => c.execFile('pwd', [], { cwd: '' }, cb)));
      const f = await same((cp) => record(cp, (c) => c.fork(pwdChild, [], { cwd: '' })));
      assert.strictEqual(f.out, fs.realpathSync(dir));
      await same((cp) => record(cp, (c) => c.spawn('pwd', [], { cwd: new URL('file:///') })));
    });

    it('ChildProcess#spawn ignores a cwd that is not a string', async () => {
      for (const cwd of [1, {}, true, Buffer.from('/')]) {
        await same((cp) => record(cp, () => {
          const child = new cp.ChildProcess();
          child.spawn({ file: 'pwd', args: ['pwd'], cwd, stdio: 'pipe' });
          return child;
        }));
      }
    });

    it("spawnSync, execSync and execFileSync fail with ENOENT on cwd ''", async () => {
      const r = await same((cp) => syncOutcome(() => cp.spawnSync('pwd', [], { cwd: '' })));
      assert.strictEqual(r.error.code, 'ENOENT');
      await same((cp) => syncOutcome(() => cp.execSync('pwd', { cwd: '', stdio: 'pipe' })));
      await same((cp) => syncOutcome(() => cp.execFileSync('pwd', [], { cwd: '', stdio: 'pipe' })));
    });

    it('spawnSync uses the string form of a Uint8Array or Buffer cwd', async () => {
      for (const cwd of [Buffer.from('/'), new Uint8Array(0), new Uint8Array([47]), new Uint8Array([52, 55])]) {
        await same((cp) => syncOutcome(() => cp.spawnSync('pwd', [], { cwd })));
      }
    });

    it('bad cwd values throw the same errors', async () => {
      for (const cwd of [1, {}, Buffer.from('a\0b'), 'a\0b']) {
        await same((cp) => syncOutcome(() => cp.spawn('pwd', [], { cwd })));
        await same((cp) => syncOutcome(() => cp.spawnSync('pwd', [], { cwd })));
      }
    });
  });

  describe('stdio descriptors reach the child in blocking mode', () => {
    // O_NONBLOCK of a descriptor, from its fdinfo (flags are octal).
    const nonblocking = (fd) => {
      const flags = /^flags:\s+([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))[1];
      return (parseInt(flags, 8) & fs.constants.O_NONBLOCK) !== 0;
    };

    function collect(child) {
      return within(20000, 'child', new Promise((resolve) => {
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => { out += d; });
        child.stderr.on('data', (d) => { err += d; });
        child.on('error', (e) => resolve({ error: errFields(e) }));
        child.on('close', (code, signal) => resolve({ code, signal, out, err }));
      }));
    }

    it("one child's stdout as another's stdin (head -n1)", async () => {
      const r = await same(async (cp) => {
        const p1 = cp.spawn('sh', ['-c', 'sleep 0.2; echo one; echo two']);
        const p2 = cp.spawn('head', ['-n1'], { stdio: [p1.stdout, 'pipe', 'pipe'] });
        const [a, b] = await Promise.all([collect(p2), within(20000, 'p1', new Promise((resolve) => p1.on('exit', resolve)))]);
        return { head: a, p1: b };
      });
      assert.deepStrictEqual(r.head, { code: 0, signal: null, out: 'one\n', err: '' });
    });

    it('fds 0-2 of the child are blocking, whatever the parent handed over; the shared description follows', async () => {
      // The child prints the O_NONBLOCK bit of its fds 0, 1 and 2 (shell
      // arithmetic on the octal flags of its fdinfo).
      const probe = 'for f in 0 1 2 3; do if [ -e /proc/$$/fdinfo/$f ]; then ' +
        'fl=$(sed -n "s/^flags:[[:space:]]*//p" /proc/$$/fdinfo/$f); echo "$f $(( (0$fl >> 11) & 1 ))"; ' +
        'else echo "$f -"; fi; done >&2';
      const r = await same(async (cp) => {
        // Alive until killed, so its descriptors stay open while we look.
        const p1 = cp.spawn('sleep', ['30']);
        const fdOut = p1.stdout._handle.fd;
        const fdErr = p1.stderr._handle.fd;
        const before = [nonblocking(fdOut), nonblocking(fdErr)];
        const kinds = [
          [p1.stdout, 'pipe', 'pipe'],
          [fdErr, 'pipe', 'pipe', p1.stdin],
        ];
        const seen = [];
        for (const stdio of kinds) {
          const c = cp.spawn('sh', ['-c', probe], { stdio });
          seen.push((await collect(c)).err);
        }
        const after = [nonblocking(fdOut), nonblocking(fdErr)];
        p1.kill();
        await within(20000, 'p1', new Promise((resolve) => p1.on('exit', resolve)));
        return { before, seen, after };
      });
      assert.deepStrictEqual(r.before, [true, true]);
      assert.deepStrictEqual(r.seen[0], '0 0\n1 0\n2 0\n3 -\n');
      // From fd 3 up a descriptor keeps its flag, as with libuv.
      assert.deepStrictEqual(r.seen[1], '0 0\n1 0\n2 0\n3 1\n');
      assert.deepStrictEqual(r.after, [false, false]);
    });

    it('spawnSync gives a blocking stdin too', async () => {
      await same(async (cp) => {
        const p1 = cp.spawn('sh', ['-c', 'echo first; sleep 0.2; echo second']);
        const fd = p1.stdout._handle.fd;
        const r = cp.spawnSync('sh', ['-c', 'read a; read b; echo "$a $b"'], { stdio: [fd, 'pipe', 'pipe'] });
        p1.kill();
        await within(20000, 'p1', new Promise((resolve) => p1.on('exit', resolve)));
        return { status: r.status, out: String(r.stdout), err: String(r.stderr) };
      });
    });
  });

  describe("a server's sockets sent to another process", () => {
    const net = require('net');
    const fixture = path.join(__dirname, 'fixtures', 'cp-socket-list.js');
    const kinds = {
      fork: (cp) => cp.fork(fixture),
      'spawn ipc, plain Node child': (cp) => cp.spawn(process.execPath, [fixture], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    };

    // A small script runner: `log` keeps what the parent saw, in order.
    function harness(child) {
      const log = [];
      const inbox = [];
      let waiting = null;
      child.on('message', (m, handle) => {
        inbox.push([m, handle]);
        if (waiting) waiting();
      });
      const next = () => within(10000, 'message', new Promise((resolve) => {
        const take = () => {
          waiting = null;
          const [m, handle] = inbox.shift();
          if (typeof m === 'string' && m.startsWith('child:')) log.push(m);
          resolve([m, handle]);
        };
        if (inbox.length) take();
        else waiting = take;
      }));
      // getConnections, or 'no answer' (Node's never answers once the
      // child has exited: it waits for zero workers).
      const count = (server) => new Promise((resolve) => {
        const t = setTimeout(() => { log.push('count: no answer'); resolve(); }, 300);
        server.getConnections((err, n) => {
          clearTimeout(t);
          log.push(`count: ${err ? err.code : n}`);
          resolve();
        });
      });
      const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      return { log, next, count, pause };
    }

    for (const [kind, start] of Object.entries(kinds)) {
      it(`getConnections counts them and 'close' waits for the peer (${kind})`, async () => {
        const r = await same((cp) => within(30000, kind, (async () => {
          const child = start(cp);
          const { log, next, count, pause } = harness(child);
          const clients = [];
          const server = net.createServer((sock) => child.send('sock', sock));
          server.on('close', () => log.push('server close'));
          await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
          for (let i = 0; i < 2; i++) {
            clients.push(net.connect(server.address().port, '127.0.0.1'));
            await next();
          }
          await count(server);
          child.send('close-one');
          await next();
          await count(server);
          server.close(() => log.push('close callback'));
          log.push('close called');
          await pause(100);
          log.push('100 ms later');
          child.send('close-all');
          await next();
          await pause(100);
          await count(server);
          const exited = new Promise((resolve) => child.on('exit', resolve));
          child.send('bye');
          await exited;
          await pause(10);
          await count(server);
          for (const c of clients) c.destroy();
          return log;
        })()));
        assert.deepStrictEqual(r.slice(0, 4), ['child: got a socket', 'child: got a socket', 'count: 2', 'child: a socket closed']);
        assert.ok(r.indexOf('server close') > r.indexOf('100 ms later'));
      });

      it(`keepOpen: the socket counts here and there (${kind})`, async () => {
        await same((cp) => within(30000, kind, (async () => {
          const child = start(cp);
          const { log, next, count } = harness(child);
          const server = net.createServer((sock) => child.send('sock', sock, { keepOpen: true }));
          await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
          const client = net.connect(server.address().port, '127.0.0.1');
          await next();
          await count(server);
          child.send('close-all');
          await next();
          await count(server);
          client.destroy();
          await new Promise((resolve) => setTimeout(resolve, 100));
          await count(server);
          child.send('bye');
          await new Promise((resolve) => child.on('exit', resolve));
          server.close();
          return log;
        })()));
      });

      it(`the child's server counts sockets it sent to the parent (${kind})`, async () => {
        const r = await same((cp) => within(30000, kind, (async () => {
          const child = start(cp);
          const { log, next } = harness(child);
          child.send('serve');
          const [{ port }] = await next();
          const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
          const got = [(await next())[1], (await next())[1]];
          log.push(`parent: got ${got.map((s) => s instanceof net.Socket).join(' ')}`);
          child.send('count');
          log.push(`child count: ${JSON.stringify((await next())[0])}`);
          got[0].destroy();
          await new Promise((resolve) => setTimeout(resolve, 100));
          child.send('count');
          log.push(`child count: ${JSON.stringify((await next())[0])}`);
          child.send('close-server');
          await next();
          await new Promise((resolve) => setTimeout(resolve, 100));
          log.push('parent: closing the last socket');
          got[1].destroy();
          await next();
          const exited = new Promise((resolve) => child.on('exit', resolve));
          child.send('bye');
          await exited;
          for (const c of clients) c.destroy();
          return log;
        })()));
        assert.ok(r.includes('child count: {"count":2,"err":null}'));
        assert.ok(r.indexOf('child: server close') > r.indexOf('parent: closing the last socket'));
      });
    }
  });

  describe("fork() and spawn's 'ipc': the README's old limits", () => {
    const net = require('net');
    const fixture = path.join(__dirname, 'fixtures', 'cp-socket-list.js');
    const rawPeer = path.join(__dirname, 'fixtures', 'cp-raw-peer.py');
    const kinds = {
      fork: (cp) => cp.fork(fixture),
      'spawn ipc': (cp) => cp.spawn(process.execPath, [fixture], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    };

    // Events of a child until 500 ms after its 'exit' (Node may emit no
    // 'close' at all).
    function lifecycle(child, act) {
      return within(20000, 'child', new Promise((resolve) => {
        const log = [];
        child.on('message', (m) => log.push(['message', m]));
        child.on('internalMessage', (m) => log.push(['internalMessage', m]));
        for (const e of ['disconnect', 'exit', 'close']) child.on(e, (...a) => log.push([e, ...a]));
        child.on('error', (e) => log.push(['error', e.code]));
        child.on('exit', () => setTimeout(() => resolve(log), 500));
        act(child, log);
      }));
    }

    for (const [kind, start] of Object.entries(kinds)) {
      it(`no 'close' after the parent's own disconnect(), 'close' after the child's (${kind})`, async () => {
        const own = await same((cp) => lifecycle(start(cp), (child) => child.disconnect()));
        assert.deepStrictEqual(own, [['disconnect'], ['exit', 0, null]]);
        const theirs = await same((cp) => lifecycle(start(cp), (child) => child.send('bye')));
        assert.deepStrictEqual(theirs, [['disconnect'], ['exit', 0, null], ['close', 0, null]]);
      });
    }

    for (const framing of ['json', 'advanced']) {
      it(`disconnect() while a message is half read (${framing})`, async () => {
        const r = await same((cp) => lifecycle(
          cp.spawn('python3', [rawPeer, 'half', framing], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: framing }),
          (child, log) => child.once('message', () => setTimeout(() => {
            log.push(['disconnect()', child.connected]);
            child.disconnect();
            log.push(['channel', child.channel]);
          }, 100))));
        // Node drops the rest, never emits 'disconnect', and reports the
        // peer's end of file as ERR_IPC_DISCONNECTED.
        assert.deepStrictEqual(r, [['message', 'first'], ['disconnect()', true], ['channel', null],
          ['error', 'ERR_IPC_DISCONNECTED'], ['exit', 0, null], ['close', 0, null]]);
      });
    }

    for (const nacks of [0, 1, 4]) {
      it(`a NODE_HANDLE_NACK sends the socket again, at most 3 times (${nacks} NACKs)`, async () => {
        const r = await same((cp) => within(20000, 'nack', new Promise((resolve) => {
          const log = [];
          const onWarning = (w) => log.push(['warning', w.name, w.message]);
          process.on('warning', onWarning);
          let client;
          const server = net.createServer((sock) => {
            const child = cp.spawn('python3', [rawPeer, 'nack', String(nacks)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
            let out = '';
            child.stdout.on('data', (d) => { out += d; });
            child.on('exit', (code) => {
              process.removeListener('warning', onWarning);
              log.push(['exit', code]);
              log.push(['peer saw', JSON.parse(out)]);
              log.push(['sender kept its handle', sock._handle !== null]);
              server.close();
              client.destroy();
              resolve(log);
            });
            child.send({ a: 1 }, sock, (err) => log.push(['callback', err]));
            child.send('after', (err) => log.push(['callback after', err]));
            setTimeout(() => child.send('done'), 300);
          });
          server.listen(0, '127.0.0.1', () => { client = net.connect(server.address().port, '127.0.0.1'); });
        })));
        const peer = r.find((e) => e[0] === 'peer saw')[1];
        assert.strictEqual(peer.filter((m) => m.type).length, Math.min(nacks, 3) + 1);
      });
    }

    for (const [kind, start] of Object.entries(kinds)) {
      it(`raw TCP and UDP handle objects pass both ways (${kind})`, async () => {
        const dgram = require('dgram');
        const r = await same((cp) => within(20000, kind, (async () => {
          const child = start(cp);
          const log = [];
          const next = () => new Promise((resolve) => child.once('message', (m, h) => resolve([m, h])));
          const fetch = (port) => new Promise((resolve) => {
            let text = '';
            net.connect(port, '127.0.0.1').on('data', (d) => { text += d; }).on('close', () => resolve(text));
          });
          // Ours to the child: a listening server's TCP handle.
          const server = net.createServer((c) => c.end('from the parent\n'));
          await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
          child.send('raw-server', server._handle);
          log.push(['child got', (await next())[0]]);
          log.push(['parent still listening', server.listening, typeof server._handle.fd]);
          child.send('stop-raw');
          log.push(['child', (await next())[0]]);
          server.close();
          // A UDP handle.
          const u = dgram.createSocket('udp4');
          await new Promise((resolve) => u.bind(0, '127.0.0.1', resolve));
          const state = Object.getOwnPropertySymbols(u).map((k) => u[k]).find((v) => v && v.handle);
          child.send('raw-udp', state.handle);
          log.push(['child got', (await next())[0]]);
          u.close();
          // The child's to us.
          child.send('give-raw');
          const [{ port }, raw] = await next();
          log.push(['parent got', Object.getPrototypeOf(raw).constructor.name, typeof raw.fd]);
          const mine = net.createServer((c) => c.end('served by the parent\n'));
          await new Promise((resolve) => mine.listen(raw, resolve));
          log.push(['fetch', await fetch(port)]);
          mine.close();
          const exited = new Promise((resolve) => child.on('exit', resolve));
          child.send('bye');
          await exited;
          return log;
        })()));
        assert.deepStrictEqual(r[0], ['child got', { info: ['TCP', 'number'], listening: true }]);
        assert.deepStrictEqual(r[4], ['parent got', 'TCP', 'number']);
      });
    }

    it("fork()'s spawnargs and its spawn error show no preload", async () => {
      const r = await same((cp) => within(20000, 'fork', new Promise((resolve) => {
        const child = cp.fork(fixture, ['x'], { execArgv: ['--no-warnings'] });
        const shown = child.spawnargs.slice();
        child.on('exit', () => {
          const bad = cp.fork(fixture, [], { execPath: '/nonexistent-nw' });
          bad.on('error', (err) => resolve({ shown, error: errFields(err) }));
        });
        child.send('bye');
      })));
      assert.deepStrictEqual(r.shown, [process.execPath, '--no-warnings', fixture, 'x']);
    });

    it("the fork channel keeps the parent alive as Node's does", async () => {
      // A parent whose child lives 1.5 s and is unref()'d: only the channel
      // can keep it alive, until channel.unref() or disconnect().
      const script = (mod, how) => `
        const cp = require(${JSON.stringify(mod)});
        const c = cp.fork(${JSON.stringify(path.join(__dirname, 'fixtures', 'cp-sleep.js'))});
        c.unref();
        ${how}
        const t0 = Date.now();
        process.on('exit', () => { process.stdout.write(Date.now() - t0 > 1000 ? 'held' : 'free'); c.kill('SIGKILL'); });`;
      const hows = ['', "c.on('message', () => {});", 'c.channel.unref();',
        "c.on('message', () => {}); c.channel.unref();", 'c.disconnect();', 'c.channel.unref(); c.channel.ref();'];
      const seen = [];
      for (const how of hows) {
        const r = await same((cp, name) => within(20000, how, new Promise((resolve, reject) => {
          const mod = name === 'node' ? 'child_process' : require.resolve('../lib/child_process');
          nodeCp.execFile(process.execPath, ['-e', script(mod, how)], (err, stdout) => (err ? reject(err) : resolve([how, stdout])));
        })));
        seen.push(r[1]);
      }
      assert.deepStrictEqual(seen, ['held', 'held', 'free', 'free', 'free', 'held']);
    });
  });
});
