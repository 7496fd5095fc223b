'use strict';

// What a user sees around the API: NODE_DEBUG logging through
// util.debuglog, the version export, and error stacks that start at the
// user's own call.

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');
const { ROOT, makeApp } = require('./support/docs');

const SCRIPT = `
const { RingBuffer, ThreadPool } = require('native-workers');
const { spawnSync } = require('native-workers/child_process');
const rb = new RingBuffer(64);
rb.tryWrite('x');
spawnSync('true');
new ThreadPool({ threads: 1 }).close();
`;

describe('package: observability', () => {
  let app;
  before(() => {
    app = makeApp('nw-observe-');
    fs.writeFileSync(path.join(app, 'parts.js'), SCRIPT);
  });
  after(() => fs.rmSync(app, { recursive: true, force: true }));

  const stderrWith = (NODE_DEBUG) => {
    const env = { ...process.env };
    delete env.NODE_DEBUG;
    if (NODE_DEBUG !== undefined) env.NODE_DEBUG = NODE_DEBUG;
    const r = spawnSync(process.execPath, ['parts.js'], { cwd: app, env, encoding: 'utf8' });
    assert.strictEqual(r.status, 0, r.stderr);
    return r.stderr;
  };

  it('NODE_DEBUG=native-workers logs every part, each line naming its part', () => {
    const err = stderrWith('native-workers');
    assert.match(err, /^NATIVE-WORKERS \d+: loader: addon \S+native_workers\.node \(built from source\)/m);
    assert.match(err, /^NATIVE-WORKERS \d+: ring: new ring: capacity 64/m);
    assert.match(err, /^NATIVE-WORKERS \d+: child_process: spawnSync true/m);
    assert.match(err, /^NATIVE-WORKERS \d+: thread_pool: new pool: 1 threads/m);
  });

  it('NODE_DEBUG=native-workers:<part> logs that part only', () => {
    const lines = stderrWith('native-workers:ring').trim().split('\n');
    assert.ok(lines.length >= 1);
    for (const l of lines) assert.match(l, /^NATIVE-WORKERS:RING \d+: /);
  });

  it('nothing is logged without NODE_DEBUG', () => {
    assert.strictEqual(stderrWith(undefined), '');
  });

  it('version is the package\'s', () => {
    assert.strictEqual(require('..').version, require('../package.json').version);
  });

  it('a thrown error\'s stack starts at the user\'s call, not in the package', () => {
    fs.writeFileSync(path.join(app, 'throws.js'), `
const { RingBuffer, ThreadPool } = require('native-workers');
const { spawn, fork } = require('native-workers/child_process');
const { Worker } = require('native-workers/worker_threads');
const tops = [];
for (const f of [() => new RingBuffer(0), () => new ThreadPool({ threads: 0 }), () => spawn(5),
  () => fork(5), () => RingBuffer.from(new SharedArrayBuffer(8)), () => new RingBuffer(64).tryWrite({})]) {
  try { f(); tops.push(null); } catch (e) { tops.push(e.stack.split('\\n')[1]); }
}
console.log(JSON.stringify(tops));
`);
    const tops = JSON.parse(execFileSync(process.execPath, ['throws.js'], { cwd: app, encoding: 'utf8' }));
    for (const top of tops) {
      assert.ok(top !== null, 'did not throw');
      assert.ok(top.includes(path.join(app, 'throws.js')), top);
      assert.ok(!top.includes(path.join(ROOT, 'lib')), top);
    }
  });
});
