'use strict';

// Lifetimes around native-workers/child_process: no leaked descriptors or
// zombies after thousands of spawns, unref(), worker threads that end with
// children still running, and the ESM entry points.

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const nodeCp = require('child_process');
const { Worker } = require('worker_threads');
const ours = require('../lib/child_process');

const libPath = path.join(__dirname, '..', 'lib', 'child_process.js');

function openFds() {
  return fs.readdirSync('/proc/self/fd').length;
}

// Children of this process that are zombies (exited, not reaped).
function zombies() {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.pid && fields[0] === 'Z') out.push(Number(name));
  }
  return out;
}

function procState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return 'gone';
  }
}

function runOne(i) {
  return new Promise((resolve, reject) => {
    // Alternate pipes, ignored stdio and failing spawns.
    let c;
    if (i % 10 === 9) {
      c = ours.spawn('no-such-command-nw');
      c.on('error', () => {});
    } else {
      c = ours.spawn('/bin/true', [], { stdio: i % 2 ? 'pipe' : 'ignore' });
    }
    c.on('close', (code) => {
      if (i % 10 === 9 ? code !== -2 : code !== 0) reject(new Error(`child ${i} closed with ${code}`));
      else resolve();
    });
  });
}

describe('child_process lifecycle', function () {
  this.timeout(120000);

  it('2,000 spawns leak no descriptor and leave no zombie', async () => {
    await runOne(0); // warm up lazily opened descriptors
    const before = openFds();
    const total = 2000;
    const parallel = 8;
    let next = 0;
    async function lane() {
      while (next < total) await runOne(next++);
    }
    await Promise.all(Array.from({ length: parallel }, lane));
    // Sockets finish closing on the loop; give it a turn.
    await new Promise((r) => setImmediate(r));
    assert.strictEqual(openFds(), before);
    assert.deepStrictEqual(zombies(), []);
  });

  it('unref() lets the parent exit while the child runs; ref() undoes it', () => {
    const script = `
      const cp = require(${JSON.stringify(libPath)});
      const c = cp.spawn('sleep', ['30'], { stdio: 'ignore', detached: true });
      c.unref();
      c.ref();
      c.unref();
      process.stdout.write(String(c.pid));
    `;
    const r = nodeCp.spawnSync(process.execPath, ['-e', script], { timeout: 30000, encoding: 'utf8' });
    assert.strictEqual(r.error, undefined);
    assert.strictEqual(r.status, 0);
    const pid = Number(r.stdout);
    assert.ok(pid > 0);
    assert.notStrictEqual(procState(pid), 'gone'); // still running, orphaned
    process.kill(pid, 'SIGKILL');
  });

  it('a worker thread spawns, gets its exit, and ends cleanly', async () => {
    const w = new Worker(`
      const { parentPort } = require('worker_threads');
      const cp = require(${JSON.stringify(libPath)});
      const c = cp.spawn('sh', ['-c', 'echo from-worker; exit 6']);
      let out = '';
      c.stdout.on('data', (d) => { out += d; });
      c.on('close', (code) => parentPort.postMessage({ code, out, sync: cp.spawnSync('echo', ['s']).stdout.toString() }));
    `, { eval: true });
    const msg = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.deepStrictEqual(msg, { code: 6, out: 'from-worker\n', sync: 's\n' });
    await w.terminate();
  });

  it('a worker terminated with children still running: no crash, children reaped', async () => {
    const w = new Worker(`
      const { parentPort } = require('worker_threads');
      const cp = require(${JSON.stringify(libPath)});
      const a = cp.spawn('sleep', ['0.3']);
      const b = cp.spawn('sleep', ['30'], { stdio: 'ignore' });
      parentPort.postMessage([a.pid, b.pid]);
    `, { eval: true });
    const [a, b] = await new Promise((resolve) => w.once('message', resolve));
    await w.terminate();
    // The short child exits on its own, the long one we end; both must be
    // reaped by the addon (never left as zombies of this process).
    process.kill(b, 'SIGKILL');
    for (let i = 0; i < 400 && (procState(a) !== 'gone' || procState(b) !== 'gone'); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.strictEqual(procState(a), 'gone');
    assert.strictEqual(procState(b), 'gone');
    // This thread's spawns still work.
    assert.strictEqual(ours.spawnSync('echo', ['ok']).stdout.toString(), 'ok\n');
  });

  it('ESM entry points export the same functions', async () => {
    const esm = await import('../lib/child_process.mjs');
    for (const name of ['spawn', 'exec', 'execFile', 'spawnSync', 'execSync', 'execFileSync', 'ChildProcess']) {
      assert.strictEqual(esm[name], ours[name], name);
    }
    const index = await import('../lib/index.mjs');
    assert.strictEqual(index.child_process, ours);
    assert.strictEqual(require('..').child_process, ours);
  });

  it('a ChildProcess whose exit listener throws reports it as uncaught, and the process keeps working', () => {
    const script = `
      const cp = require(${JSON.stringify(libPath)});
      process.on('uncaughtException', (e) => {
        process.stdout.write('caught:' + e.message);
        cp.spawn('true').on('close', (c) => process.stdout.write(' then:' + c));
      });
      cp.spawn('true').on('exit', () => { throw new Error('boom'); });
    `;
    const r = nodeCp.spawnSync(process.execPath, ['-e', script], { timeout: 30000, encoding: 'utf8' });
    assert.strictEqual(r.stdout, 'caught:boom then:0');
    assert.strictEqual(r.status, 0);
  });
});
