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
});
