'use strict';

// Differential tests: every scenario runs against node:child_process and
// against native-workers/child_process, and what a user sees (events in
// order, values, error fields) must be the same.

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const util = require('util');
const nodeCp = require('child_process');
const ours = require('../lib/child_process');

const impls = [['node', nodeCp], ['ours', ours]];

// Run `scenario(cp)` against both and return { node, ours }.
async function both(scenario) {
  const out = {};
  for (const [name, cp] of impls) out[name] = await scenario(cp);
  return out;
}

async function same(scenario) {
  const r = await both(scenario);
  assert.deepStrictEqual(r.ours, r.node);
  return r.ours;
}

function errFields(e) {
  if (!e) return e;
  const o = { name: e.name, message: e.message };
  for (const k of ['code', 'errno', 'syscall', 'path', 'spawnargs', 'killed', 'signal', 'cmd', 'status']) {
    if (k in e) o[k] = e[k];
  }
  return o;
}

// Spawn and record events ('spawn', 'exit', 'close', 'error'), stdout and
// stderr. Data/exit interleaving is a race in Node too, so the record keeps
// the lifecycle events in order and the data apart.
function run(cp, file, args, opts, { stdin, encoding } = {}) {
  return new Promise((resolve) => {
    const events = [];
    const chunks = { stdout: [], stderr: [] };
    let child;
    try {
      child = cp.spawn(file, args, opts);
    } catch (e) {
      resolve({ thrown: errFields(e) });
      return;
    }
    const stdioShape = child.stdio.map((s) => (s ? [s.readable, s.writable] : null));
    for (const name of ['stdout', 'stderr']) {
      if (child[name]) {
        if (encoding) child[name].setEncoding(encoding);
        child[name].on('data', (d) => chunks[name].push(d));
      }
    }
    child.on('spawn', () => events.push(['spawn']));
    child.on('exit', (c, s) => events.push(['exit', c, s]));
    child.on('error', (e) => events.push(['error', errFields(e)]));
    child.on('close', (c, s) => {
      events.push(['close', c, s]);
      const join = (a) => (encoding ? a.join('') : Buffer.concat(a).toString());
      resolve({
        events,
        stdout: join(chunks.stdout),
        stderr: join(chunks.stderr),
        killed: child.killed,
        exitCode: child.exitCode,
        signalCode: child.signalCode,
        hasPid: typeof child.pid === 'number' && child.pid > 0,
        stdioShape,
      });
    });
    if (stdin !== undefined && child.stdin) child.stdin.end(stdin);
  });
}

function tmpFile(name, content, mode) {
  const p = path.join(os.tmpdir(), `nw-cp-${process.pid}-${name}`);
  fs.writeFileSync(p, content);
  fs.chmodSync(p, mode);
  return p;
}

function healthy() {
  // The process still spawns normally after a bad call.
  const r = ours.spawnSync('/bin/echo', ['ok']);
  assert.strictEqual(r.status, 0);
  assert.strictEqual(r.stdout.toString(), 'ok\n');
}

describe('child_process spawn (differential)', function () {
  this.timeout(60000);

  it('stdout, stderr, exit code and events in order', async () => {
    const r = await same((cp) => run(cp, 'sh', ['-c', 'echo out; echo err >&2; exit 3']));
    assert.deepStrictEqual(r.events, [['spawn'], ['exit', 3, null], ['close', 3, null]]);
    assert.strictEqual(r.stdout, 'out\n');
    assert.deepStrictEqual(r.stdioShape, [[false, true], [true, true], [true, true]]);
  });

  it('ChildProcess: same own properties and methods as Node\'s', async () => {
    const r = await same((cp) => new Promise((resolve) => {
      const c = cp.spawn('true');
      const keys = Object.keys(c);
      const methods = ['kill', 'ref', 'unref', Symbol.dispose].map((m) => typeof c[m]);
      c.on('close', () => resolve({ keys, methods, isEmitter: c instanceof require('events'),
        isClass: c instanceof cp.ChildProcess, after: Object.keys(c) }));
    }));
    assert.ok(r.keys.includes('stdio'));
  });

  it('arguments that are not strings are stringified, as Node does', async () => {
    const r = await same((cp) => run(cp, 'echo', [1, null, undefined, {}, true, 2n]));
    assert.strictEqual(r.stdout, '1 null undefined [object Object] true 2\n');
    const r2 = await same((cp) => run(cp, 'echo', [Symbol('s')]));
    assert.strictEqual(r2.thrown.name, 'TypeError');
    healthy();
  });

  it('setEncoding and unicode output', async () => {
    const r = await same((cp) => run(cp, 'printf', ['h\u00e9llo \u2603 \ud83d\ude00'], {}, { encoding: 'utf8' }));
    assert.strictEqual(r.stdout, 'h\u00e9llo \u2603 \ud83d\ude00');
    await same((cp) => run(cp, 'printf', ['abc'], {}, { encoding: 'hex' }));
  });

  it('a signal: killed by the parent and by itself', async () => {
    const r = await same((cp) => new Promise((resolve) => {
      const c = cp.spawn('sleep', ['30']);
      c.on('spawn', () => resolve(new Promise((res2) => {
        const k1 = c.kill('SIGKILL');
        c.on('close', (code, sig) => res2({ k1, code, sig, killed: c.killed, again: c.kill() }));
      })));
    }));
    assert.deepStrictEqual(r, { k1: true, code: null, sig: 'SIGKILL', killed: true, again: false });
    const r2 = await same((cp) => run(cp, 'sh', ['-c', 'kill -USR1 $$']));
    assert.deepStrictEqual(r2.events.at(-1), ['close', null, 'SIGUSR1']);
    assert.strictEqual(r2.killed, false);
  });

  it('ENOENT: error event with Node\'s fields, then close', async () => {
    const r = await same((cp) => run(cp, 'no-such-command-nw', ['a', 'b']));
    assert.deepStrictEqual(r.events.map((e) => e[0]), ['error', 'close']);
    assert.strictEqual(r.events[0][1].code, 'ENOENT');
    assert.strictEqual(r.events[0][1].syscall, 'spawn no-such-command-nw');
    assert.strictEqual(r.events[0][1].path, 'no-such-command-nw');
    assert.deepStrictEqual(r.events[0][1].spawnargs, ['a', 'b']);
    assert.strictEqual(r.hasPid, false);
    await same((cp) => run(cp, '/nonexistent/dir/prog', []));
    healthy();
  });

  it('EACCES: a file that is not executable', async () => {
    const f = tmpFile('noexec', '#!/bin/sh\necho hi\n', 0o644);
    try {
      const r = await same((cp) => run(cp, f, []));
      assert.strictEqual(r.events[0][1].code, 'EACCES');
    } finally {
      fs.unlinkSync(f);
    }
    healthy();
  });

  it('an executable script without #! runs with /bin/sh, as execvp does', async () => {
    const f = tmpFile('noshebang', 'echo "script $# $1"\n', 0o755);
    try {
      const r = await same((cp) => run(cp, f, ['arg one']));
      assert.strictEqual(r.stdout, 'script 1 arg one\n');
    } finally {
      fs.unlinkSync(f);
    }
  });

  it('a bad cwd is reported, not lost', async () => {
    const r = await same((cp) => run(cp, 'true', [], { cwd: '/nonexistent-nw-dir' }));
    assert.strictEqual(r.events[0][0], 'error');
    assert.strictEqual(r.events[0][1].code, 'ENOENT');
    healthy();
  });

  it('cwd as a string and as a file: URL, env, argv0', async () => {
    const r = await same((cp) => run(cp, 'sh', ['-c', 'echo "$(pwd) $FOO $0"'], {
      cwd: '/tmp', env: { FOO: 'b a r', PATH: process.env.PATH }, argv0: 'zero',
    }));
    assert.strictEqual(r.stdout, '/tmp b a r zero\n');
    const r2 = await same((cp) => run(cp, 'pwd', [], { cwd: new URL('file:///usr') }));
    assert.strictEqual(r2.stdout, '/usr\n');
  });

  it('timeout kills with killSignal', async () => {
    const r = await same((cp) => run(cp, 'sleep', ['30'], { timeout: 100 }));
    assert.deepStrictEqual(r.events, [['spawn'], ['exit', null, 'SIGTERM'], ['close', null, 'SIGTERM']]);
    assert.strictEqual(r.killed, true);
    const r2 = await same((cp) => run(cp, 'sleep', ['30'], { timeout: 100, killSignal: 'SIGKILL' }));
    assert.deepStrictEqual(r2.events.at(-1), ['close', null, 'SIGKILL']);
  });

  it('abort through an AbortSignal, before and after the start', async () => {
    const r = await same((cp) => {
      const ac = new AbortController();
      const p = run(cp, 'sleep', ['30'], { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      return p;
    });
    assert.deepStrictEqual(r.events.map((e) => e[0]), ['spawn', 'error', 'exit', 'close']);
    assert.strictEqual(r.events[1][1].name, 'AbortError');
    assert.strictEqual(r.events[1][1].code, 'ABORT_ERR');
    await same((cp) => run(cp, 'sleep', ['30'], { signal: AbortSignal.abort() }));
  });

  it('shell: awkward arguments reach the shell exactly as Node joins them', async () => {
    const awkward = ['a b', '"dq"', "'sq'", '$HOME', 'new\nline', 'uni\u00e7\u00f8d\u00e9', '\\back', '*', '&&', 'echo', 'x'];
    // The newline ends the first command, so the shell runs "line ..." next.
    const r = await same((cp) => run(cp, 'echo', awkward, { shell: true }));
    assert.strictEqual(r.stdout, 'a b dq sq /root new\n'.replace('/root', process.env.HOME));
    const r1 = await same((cp) => run(cp, 'printf', ['%s,', 'x y', '"q"', 'uni\u00e7\u00f8d\u00e9', '$((2*3))'], { shell: true }));
    assert.strictEqual(r1.stdout, 'x,y,q,uni\u00e7\u00f8d\u00e9,6,');
    await same((cp) => run(cp, 'echo $0 "$1"', [], { shell: '/bin/bash' }));
    await same((cp) => run(cp, 'printf "%s|" a\\ b "c d" $((1+2))', [], { shell: true }));
  });

  it('detached: a new session and process group', async () => {
    const script = 'read a b c d e f g < /proc/self/stat; [ "$a" = "$e" ] && [ "$a" = "$f" ] && echo leader || echo member';
    const r = await same((cp) => run(cp, 'sh', ['-c', script], { detached: true }));
    assert.strictEqual(r.stdout, 'leader\n');
    const r2 = await same((cp) => run(cp, 'sh', ['-c', script], { detached: false }));
    assert.strictEqual(r2.stdout, 'member\n');
  });

  it('stdio mixes: ignore, inherit-style descriptors, extra pipes', async () => {
    const r = await same((cp) => run(cp, 'sh', ['-c', 'echo o; echo e >&2'], { stdio: ['ignore', 'pipe', 'ignore'] }));
    assert.deepStrictEqual(r.stdioShape, [null, [true, true], null]);
    const r2 = await same((cp) => run(cp, 'sh', ['-c', 'echo three >&3; echo o'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] }));
    assert.deepStrictEqual(r2.stdioShape.length, 4);
    // An extra pipe's data arrives on child.stdio[3].
    const r3 = await same((cp) => new Promise((resolve) => {
      const c = cp.spawn('sh', ['-c', 'echo three >&3'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
      let s = '';
      c.stdio[3].on('data', (d) => { s += d; });
      c.on('close', () => resolve(s));
    }));
    assert.strictEqual(r3, 'three\n');
    // A descriptor of a file, as a number and as a stream with .fd.
    for (const kind of ['number', 'stream']) {
      const outs = await both(async (cp) => {
        const f = path.join(os.tmpdir(), `nw-cp-${process.pid}-fd-${kind}`);
        const fd = fs.openSync(f, 'w');
        const target = kind === 'number' ? fd : { fd };
        await run(cp, 'sh', ['-c', 'echo to-file; echo err >&2'], { stdio: ['ignore', target, target] });
        fs.closeSync(fd);
        const text = fs.readFileSync(f, 'utf8');
        fs.unlinkSync(f);
        return text;
      });
      assert.deepStrictEqual(outs.ours, outs.node);
      assert.strictEqual(outs.ours, 'to-file\nerr\n');
    }
    // A net.Socket (a stream with a handle) as a child's stdout.
    const viaSocket = await both((cp) => new Promise((resolve) => {
      const a = cp.spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
      let s = '';
      a.stdout.on('data', (d) => { s += d; });
      a.on('close', () => resolve(s));
      const b = cp.spawn('echo', ['through a socket'], { stdio: ['ignore', a.stdin, 'ignore'] });
      b.on('close', () => a.stdin.end());
    }));
    assert.strictEqual(viaSocket.ours, 'through a socket\n');
    assert.strictEqual(viaSocket.node, viaSocket.ours);
  });

  it("stdio 'inherit' shares the parent's descriptors", async () => {
    const r = await both((cp) => {
      const mod = cp === nodeCp ? 'child_process' : require.resolve('../lib/child_process');
      const script = `require(${JSON.stringify(mod)}).spawn('sh', ['-c', 'echo inherited; echo to-err >&2'], { stdio: 'inherit' })` +
        ".on('close', (c) => console.log('closed', c))";
      const x = nodeCp.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', input: '' });
      return [x.status, x.stdout, x.stderr];
    });
    assert.deepStrictEqual(r.ours, r.node);
    assert.deepStrictEqual(r.ours, [0, 'inherited\nclosed 0\n', 'to-err\n']);
  });

  it('close waits for every stdio stream, after exit', async () => {
    // The grandchild keeps stdout open after the child exits; Node's own
    // 'close' listener on the stream runs before the user's.
    const r = await same((cp) => new Promise((resolve) => {
      const events = [];
      const c = cp.spawn('sh', ['-c', '(sleep 1; echo late) & echo early'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout.on('data', (d) => { out += d; });
      c.stdout.on('close', () => events.push('stdout-close'));
      c.on('exit', () => events.push('exit'));
      c.on('close', () => { events.push('close'); resolve({ events, out }); });
    }));
    assert.deepStrictEqual(r.events, ['exit', 'close', 'stdout-close']);
    assert.strictEqual(r.out, 'early\nlate\n');
  });

  it('64 MiB of output through a pipe, byte for byte', async () => {
    const size = 64 * 1024 * 1024;
    const r = await both((cp) => new Promise((resolve) => {
      const c = cp.spawn('head', ['-c', String(size), '/dev/urandom']);
      const hash = require('crypto').createHash('sha256');
      let n = 0;
      c.stdout.on('data', (d) => { n += d.length; hash.update(d); });
      c.on('close', (code) => resolve({ n, code, digestLen: hash.digest('hex').length }));
    }));
    assert.deepStrictEqual(r.ours, { n: size, code: 0, digestLen: 64 });
    assert.deepStrictEqual(r.ours, r.node);
  });

  it('stdin streaming with back-pressure both ways', async () => {
    const r = await same((cp) => new Promise((resolve) => {
      const c = cp.spawn('cat');
      const crypto = require('crypto');
      const hin = crypto.createHash('sha256');
      const hout = crypto.createHash('sha256');
      let sawFalse = false;
      let written = 0;
      let read = 0;
      const total = 16 * 1024 * 1024;
      let seed = 1;
      // The reader pauses now and then so the pipe fills up.
      c.stdout.on('data', (d) => {
        read += d.length;
        hout.update(d);
        if ((read & 0xfffff) < d.length) {
          c.stdout.pause();
          setTimeout(() => c.stdout.resume(), 1);
        }
      });
      function pump() {
        while (written < total) {
          const chunk = Buffer.alloc(65536);
          for (let i = 0; i < chunk.length; i += 4) {
            seed = (seed * 1103515245 + 12345) >>> 0;
            chunk.writeUInt32LE(seed, i);
          }
          hin.update(chunk);
          written += chunk.length;
          if (!c.stdin.write(chunk)) {
            sawFalse = true;
            c.stdin.once('drain', pump);
            return;
          }
        }
        c.stdin.end();
      }
      pump();
      c.on('close', (code) => resolve({ code, read, sawFalse, same: hin.digest('hex') === hout.digest('hex') }));
    }));
    assert.deepStrictEqual(r, { code: 0, read: 16 * 1024 * 1024, sawFalse: true, same: true });
  });

  it('uid and gid (through the exec helper)', async () => {
    const r = await same((cp) => run(cp, 'sh', ['-c', 'echo $(id -u) $(id -g)'], { uid: 65534, gid: 65534 }));
    if (process.getuid() === 0) {
      assert.strictEqual(r.stdout, '65534 65534\n');
    } else {
      assert.strictEqual(r.thrown.code, 'EPERM');
    }
    // The real program's exec error still comes back as Node reports it.
    await same((cp) => run(cp, 'no-such-command-nw', [], { gid: process.getgid() }));
    healthy();
  });

  it('children of node:child_process keep their exit statuses', async () => {
    const results = await Promise.all([
      run(nodeCp, 'sh', ['-c', 'sleep 0.1; exit 11']),
      run(ours, 'sh', ['-c', 'exit 12']),
      run(nodeCp, 'sh', ['-c', 'exit 13']),
      run(ours, 'sh', ['-c', 'sleep 0.1; exit 14']),
    ]);
    assert.deepStrictEqual(results.map((x) => x.exitCode), [11, 12, 13, 14]);
  });

  it('stdin.write to a child that never reads reports back-pressure', async () => {
    const r = await same((cp) => new Promise((resolve) => {
      const c = cp.spawn('sleep', ['30'], { stdio: ['pipe', 'ignore', 'ignore'] });
      c.stdin.on('error', () => {});
      let n = 0;
      const chunk = Buffer.alloc(65536);
      while (c.stdin.write(chunk)) n++;
      c.kill('SIGKILL');
      c.on('close', (code, sig) => resolve({ full: n < 1000, sig }));
    }));
    assert.deepStrictEqual(r, { full: true, sig: 'SIGKILL' });
  });
});

describe('child_process exec / execFile (differential)', function () {
  this.timeout(60000);

  function execResult(fn) {
    return new Promise((resolve) => {
      fn((err, stdout, stderr) => resolve({ err: errFields(err), stdout, stderr }));
    });
  }

  it('exec: output, exit code error with cmd/killed/signal', async () => {
    const r = await same((cp) => execResult((cb) => cp.exec('echo out; echo err >&2; exit 3', cb)));
    assert.strictEqual(r.err.code, 3);
    assert.strictEqual(r.err.killed, false);
    assert.strictEqual(r.err.signal, null);
    assert.strictEqual(r.err.cmd, 'echo out; echo err >&2; exit 3');
    assert.strictEqual(r.stdout, 'out\n');
    const ok = await same((cp) => execResult((cb) => cp.exec('printf "%s" "$0"', { shell: '/bin/bash' }, cb)));
    assert.deepStrictEqual(ok, { err: null, stdout: '/bin/bash', stderr: '' });
  });

  it('execFile: encodings, buffer mode, args in cmd', async () => {
    await same((cp) => execResult((cb) => cp.execFile('printf', ['%s', 'h\u00e9'], { encoding: 'buffer' }, cb)));
    await same((cp) => execResult((cb) => cp.execFile('printf', ['%s', 'h\u00e9'], { encoding: 'latin1' }, cb)));
    await same((cp) => execResult((cb) => cp.execFile('sh', ['-c', 'exit 4', 'a b'], cb)));
    await same((cp) => execResult((cb) => cp.execFile('no-such-command-nw', ['x'], cb)));
    healthy();
  });

  it('timeout and maxBuffer', async () => {
    const r = await same((cp) => execResult((cb) => cp.exec('sleep 30', { timeout: 100 }, cb)));
    assert.strictEqual(r.err.killed, true);
    assert.strictEqual(r.err.signal, 'SIGTERM');
    const r2 = await same((cp) => execResult((cb) => cp.exec('head -c 100000 /dev/zero | tr "\\0" x', { maxBuffer: 1000 }, cb)));
    assert.strictEqual(r2.err.code, 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER');
    assert.strictEqual(r2.stdout.length, 1000);
    const r3 = await same((cp) => execResult((cb) => cp.exec('head -c 5000 /dev/zero >&2', { maxBuffer: 10 }, cb)));
    assert.strictEqual(r3.err.message, 'stderr maxBuffer length exceeded');
  });

  it('abort through an AbortSignal', async () => {
    const r = await same((cp) => execResult((cb) => {
      const ac = new AbortController();
      cp.execFile('sleep', ['30'], { signal: ac.signal }, cb);
      setTimeout(() => ac.abort(), 50);
    }));
    assert.strictEqual(r.err.name, 'AbortError');
  });

  it('util.promisify forms resolve { stdout, stderr } and reject with fields; .child is exposed', async () => {
    const r = await same(async (cp) => {
      const p = util.promisify(cp.exec)('echo hi');
      const isChild = p.child instanceof cp.ChildProcess;
      return { isChild, value: await p };
    });
    assert.deepStrictEqual(r, { isChild: true, value: { stdout: 'hi\n', stderr: '' } });
    const r2 = await same(async (cp) => {
      try {
        await util.promisify(cp.execFile)('sh', ['-c', 'echo o; echo e >&2; exit 2']);
        return 'resolved';
      } catch (e) {
        return { ...errFields(e), stdout: e.stdout, stderr: e.stderr };
      }
    });
    assert.strictEqual(r2.code, 2);
    assert.strictEqual(r2.stdout, 'o\n');
    assert.strictEqual(r2.stderr, 'e\n');
  });
});

describe('child_process Sync forms (differential)', function () {
  this.timeout(60000);

  function syncResult(fn) {
    try {
      const v = fn();
      return { value: Buffer.isBuffer(v) ? ['buf', v.toString('hex')] : v };
    } catch (e) {
      const f = errFields(e);
      for (const k of ['stdout', 'stderr']) if (k in e) f[k] = e[k] && e[k].toString();
      if ('output' in e) f.outputLen = e.output && e.output.length;
      if ('pid' in e) f.hasPid = e.pid > 0;
      return { thrown: f };
    }
  }

  function shape(r) {
    const o = { ...r };
    o.hasPid = r.pid > 0;
    delete o.pid;
    if (o.error) o.error = errFields(o.error);
    for (const k of ['stdout', 'stderr']) if (Buffer.isBuffer(o[k])) o[k] = ['buf', o[k].toString()];
    if (o.output) o.output = o.output.map((x) => (Buffer.isBuffer(x) ? ['buf', x.toString()] : x));
    o.keys = Object.keys(r);
    return o;
  }

  it('spawnSync: output, status, keys, encoding, input', async () => {
    const r = await same((cp) => shape(cp.spawnSync('sh', ['-c', 'cat; echo e >&2; exit 5'], { input: 'in put' })));
    assert.strictEqual(r.status, 5);
    assert.deepStrictEqual(r.stdout, ['buf', 'in put']);
    await same((cp) => shape(cp.spawnSync('printf', ['\u00e9'], { encoding: 'utf8' })));
    await same((cp) => shape(cp.spawnSync('cat', { input: Buffer.from([1, 2, 3]), stdio: ['pipe', 'pipe', 'ignore'] })));
    await same((cp) => shape(cp.spawnSync('cat', { input: new Uint16Array([0x4141, 0x4242]) })));
    await same((cp) => shape(cp.spawnSync('sh', ['-c', 'kill -9 $$'])));
    await same((cp) => shape(cp.spawnSync('sh', ['-c', 'echo $0 "$FOO"'], { argv0: 'z', env: { FOO: 'f' }, cwd: '/' })));
  });

  it('spawnSync errors: ENOENT, bad cwd, timeout, maxBuffer, EPIPE', async () => {
    const r = await same((cp) => shape(cp.spawnSync('no-such-command-nw', ['q'])));
    assert.strictEqual(r.error.code, 'ENOENT');
    assert.strictEqual(r.error.syscall, 'spawnSync no-such-command-nw');
    assert.strictEqual(r.output, null);
    await same((cp) => shape(cp.spawnSync('true', { cwd: '/nonexistent-nw-dir' })));
    const t = await same((cp) => shape(cp.spawnSync('sleep', ['30'], { timeout: 100 })));
    assert.strictEqual(t.error.code, 'ETIMEDOUT');
    assert.strictEqual(t.signal, 'SIGTERM');
    const t2 = await same((cp) => shape(cp.spawnSync('sleep', ['30'], { timeout: 100, killSignal: 'SIGKILL' })));
    assert.strictEqual(t2.signal, 'SIGKILL');
    const m = await both((cp) => shape(cp.spawnSync('yes', { maxBuffer: 1000 })));
    assert.strictEqual(m.ours.error.code, 'ENOBUFS');
    assert.deepStrictEqual([m.ours.error, m.ours.signal, m.ours.status], [m.node.error, m.node.signal, m.node.status]);
    // maxBuffer counts stdout and stderr together.
    const m2 = await same((cp) => shape(cp.spawnSync('sh', ['-c', 'head -c 600 /dev/zero; head -c 600 /dev/zero >&2; sleep 30'],
      { maxBuffer: 1000 })));
    assert.strictEqual(m2.error.code, 'ENOBUFS');
    const e = await same((cp) => shape(cp.spawnSync('true', { input: 'x'.repeat(4 * 1024 * 1024) })));
    assert.strictEqual(e.error.code, 'EPIPE');
    assert.strictEqual(e.status, 0);
    healthy();
  });

  it('execSync and execFileSync: values and thrown errors', async () => {
    await same((cp) => syncResult(() => cp.execSync('echo hi')));
    await same((cp) => syncResult(() => cp.execSync('cat', { input: 'piped', encoding: 'utf8' })));
    await same((cp) => syncResult(() => cp.execSync('echo e >&2; exit 7', { stdio: 'pipe' })));
    await same((cp) => syncResult(() => cp.execFileSync('sh', ['-c', 'exit 9'], { stdio: 'pipe' })));
    await same((cp) => syncResult(() => cp.execFileSync('no-such-command-nw', ['a'])));
    await same((cp) => syncResult(() => cp.execFileSync('sleep', ['30'], { timeout: 100 })));
    await same((cp) => syncResult(() => cp.execFileSync('echo', ['a b', '"c"'], { shell: true, encoding: 'utf8' })));
    healthy();
  });
});

describe('child_process bad input (differential codes)', function () {
  this.timeout(60000);

  const bad = [
    ['spawn', [5]],
    ['spawn', ['']],
    ['spawn', ['a\u0000b']],
    ['spawn', ['true', 5]],
    ['spawn', ['true', ['a\u0000']]],
    ['spawn', ['true', [], 'opts']],
    ['spawn', ['true', { cwd: 5 }]],
    ['spawn', ['true', { cwd: 'a\u0000' }]],
    ['spawn', ['true', { cwd: new URL('http://example.com/') }]],
    ['spawn', ['true', { detached: 'yes' }]],
    ['spawn', ['true', { uid: 'root' }]],
    ['spawn', ['true', { gid: 1.5 }]],
    ['spawn', ['true', { shell: 5 }]],
    ['spawn', ['true', { argv0: 5 }]],
    ['spawn', ['true', { env: { A: 'x\u0000' } }]],
    ['spawn', ['true', { stdio: 'bogus' }]],
    ['spawn', ['true', { stdio: [{}] }]],
    ['spawn', ['true', { stdio: 5 }]],
    ['spawn', ['true', { timeout: -1 }]],
    ['spawn', ['true', { timeout: 1.5 }]],
    ['spawn', ['true', { killSignal: 'SIGNOPE' }]],
    ['spawn', ['true', { killSignal: {} }]],
    ['spawn', ['true', { signal: {} }]],
    ['spawn', ['true', { serialization: 'xml' }]],
    ['spawn', ['true', { windowsHide: 1 }]],
    ['spawn', ['true', { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'ipc'] }]],
    ['exec', [5]],
    ['exec', ['true', { maxBuffer: -1 }]],
    ['exec', ['true', { maxBuffer: 'big' }]],
    ['execFile', ['true', [], {}, 5]],
    ['execFile', ['true', [], 5]],
    ['execFile', ['true', [], { argv0: 5 }]],
    ['spawnSync', ['true', { input: 5 }]],
    ['spawnSync', ['true', { stdio: ['ipc'] }]],
    ['spawnSync', ['true', { timeout: 'x' }]],
    ['execSync', [{}]],
    ['execFileSync', ['true', [], 5]],
  ];

  for (const [fn, args] of bad) {
    it(`${fn}(${util.inspect(args, { breakLength: Infinity })}) throws Node's error`, async () => {
      const r = await both((cp) => {
        try {
          const c = cp[fn](...args);
          if (c && typeof c.kill === 'function') c.kill('SIGKILL');
          return 'no throw';
        } catch (e) {
          return { name: e.name, code: e.code };
        }
      });
      assert.deepStrictEqual(r.ours, r.node);
      assert.notStrictEqual(r.ours, 'no throw');
      healthy();
    });
  }

  it('kill with an unknown signal throws ERR_UNKNOWN_SIGNAL; kill(0) probes', async () => {
    const r = await same((cp) => new Promise((resolve) => {
      const c = cp.spawn('sleep', ['30']);
      let code;
      try { c.kill('SIGFOO'); } catch (e) { code = e.code; }
      const probe = c.kill(0);
      c.kill('SIGKILL');
      c.on('close', (x, sig) => resolve({ code, probe, sig }));
    }));
    assert.deepStrictEqual(r, { code: 'ERR_UNKNOWN_SIGNAL', probe: true, sig: 'SIGKILL' });
  });
});
