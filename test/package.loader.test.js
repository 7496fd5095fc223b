'use strict';

// The loader finds a build from source first, then a prebuilt binary for
// this machine, and says why and what to do when there is neither or the
// one there cannot be loaded.

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const { locate } = require('../lib/internal/locate');

// A copy of the package's JavaScript without any build, in a temp dir.
function bareCopy() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-loader-'));
  fs.cpSync(path.join(ROOT, 'lib'), path.join(dir, 'lib'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

// Load the copy in a fresh process: -> { code, message, cause, helper }.
function tryLoad(dir) {
  const script = `
    try {
      const b = require(${JSON.stringify(path.join(dir, 'lib', 'internal', 'binding.js'))});
      console.log(JSON.stringify({ helper: b.helperPath, ok: typeof b.ringInit }));
    } catch (e) {
      console.log(JSON.stringify({ code: e.code, message: e.message, cause: e.cause && e.cause.message,
        head: e.stack.split('\\n')[0] }));
    }`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

const tuple = `${process.platform}-${process.arch}`;

describe('package: loading the addon', () => {
  const dirs = [];
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
  const fresh = () => { const d = bareCopy(); dirs.push(d); return d; };

  it('a build from source is found first, with its helper beside it', () => {
    const where = locate(ROOT);
    assert.deepStrictEqual(where, {
      addon: path.join(ROOT, 'build', 'Release', 'native_workers.node'),
      helper: path.join(ROOT, 'build', 'Release', 'nw_exec_helper'),
      prebuilt: false,
    });
  });

  it('no build and no prebuild: ERR_NATIVE_WORKERS_NOT_BUILT says what to run', () => {
    const dir = fresh();
    assert.strictEqual(locate(dir), null);
    const r = tryLoad(dir);
    assert.strictEqual(r.code, 'ERR_NATIVE_WORKERS_NOT_BUILT');
    assert.match(r.message, /npm rebuild native-workers/);
    assert.match(r.message, /install script/);
    assert.ok(r.message.includes(tuple), r.message);
    assert.strictEqual(r.head, `Error [ERR_NATIVE_WORKERS_NOT_BUILT]: ${r.message}`);
  });

  it('the test addon alone in build/Release is not taken for the addon', () => {
    const dir = fresh();
    fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'build', 'Release', 'native_workers_testing.node-testing'),
      path.join(dir, 'build', 'Release', 'native_workers_testing.node'));
    assert.strictEqual(tryLoad(dir).code, 'ERR_NATIVE_WORKERS_NOT_BUILT');
  });

  it('a prebuild for this machine loads, and the helper is the one beside it', () => {
    const dir = fresh();
    const pre = path.join(dir, 'prebuilds', tuple);
    fs.mkdirSync(pre, { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'build', 'Release', 'native_workers.node'),
      path.join(pre, 'native-workers.napi.node'));
    const r = tryLoad(dir);
    assert.deepStrictEqual(r, { helper: path.join(pre, 'nw_exec_helper'), ok: 'function' });
  });

  it('a binary that cannot be loaded: ERR_NATIVE_WORKERS_LOAD_FAILED with the cause', () => {
    const dir = fresh();
    const pre = path.join(dir, 'prebuilds', tuple);
    fs.mkdirSync(pre, { recursive: true });
    fs.writeFileSync(path.join(pre, 'native-workers.napi.node'), 'not an ELF file');
    const r = tryLoad(dir);
    assert.strictEqual(r.code, 'ERR_NATIVE_WORKERS_LOAD_FAILED');
    assert.match(r.message, /npm rebuild native-workers/);
    assert.match(r.cause, /invalid ELF header|too short/);
  });
});
