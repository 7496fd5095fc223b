'use strict';

// Run inside an app that installed the packed tarball: uses every entry
// point the installed package exports, from CommonJS and from ESM, and
// exits non-zero on any error. Entries added later are found in
// package.json's "exports" and at least loaded both ways.

const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const pkgDir = path.dirname(require.resolve('native-workers/package.json'));
const pkg = require('native-workers/package.json');
const entries = Object.keys(pkg.exports).filter((k) => k !== './package.json')
  .map((k) => (k === '.' ? 'native-workers' : `native-workers/${k.slice(2)}`));

// Entries whose module object changes as a program runs (cluster: an
// EventEmitter whose settings and schedulingPolicy are replaced).
const STABLE_NAMES_ONLY = new Set(['native-workers/cluster']);

// The parts this script knows how to exercise.
const use = {
  async 'native-workers'(m) {
    assert.strictEqual(m.version, pkg.version);
    const rb = new m.RingBuffer(1024);
    assert.ok(rb.tryWrite('ping'));
    assert.strictEqual(rb.tryRead().toString(), 'ping');
    const pool = new m.ThreadPool({ threads: 2 });
    const digest = await pool.run('sha256', 'abc');
    assert.strictEqual(digest.toString('hex'), crypto.createHash('sha256').update('abc').digest('hex'));
    await pool.close();
  },
  async 'native-workers/child_process'(m) {
    assert.strictEqual(m.execFileSync('echo', ['hi'], { encoding: 'utf8' }), 'hi\n');
    // uid/gid go through the helper executable that ships beside the addon.
    if (process.getuid() === 0) {
      const r = m.spawnSync('/usr/bin/id', ['-u'], { uid: 65534, gid: 65534, encoding: 'utf8' });
      assert.strictEqual(String(r.stdout).trim(), '65534', String(r.error || r.stderr));
    }
    const child = m.fork(path.join(__dirname, 'smoke-child.js'));
    const reply = await new Promise((resolve, reject) => {
      child.once('message', resolve).once('error', reject);
      child.send({ n: 21 });
    });
    assert.deepStrictEqual(reply, { n: 42 });
    await new Promise((resolve) => child.once('exit', resolve));
  },
  async 'native-workers/worker_threads'(m) {
    const w = new m.Worker('require("native-workers/worker_threads").parentPort.once("message", (n) => ' +
      'require("native-workers/worker_threads").parentPort.postMessage(n * 2))', { eval: true });
    const got = await new Promise((resolve, reject) => { w.once('message', resolve).once('error', reject); w.postMessage(21); });
    assert.strictEqual(got, 42);
    await w.terminate();
  },
};

async function main() {
  fs.writeFileSync(path.join(__dirname, 'smoke-child.js'),
    "process.on('message', (m) => { process.send({ n: m.n * 2 }); process.disconnect(); });\n");
  assert.ok(!fs.existsSync(path.join(pkgDir, 'build')), 'the install built from source instead of using a prebuild');
  for (const spec of entries) {
    const cjs = require(spec);
    const esm = await import(spec);
    const names = Object.keys(cjs).sort();
    assert.ok(names.length > 0, `${spec}: exports nothing`);
    const esmNames = Object.keys(esm).filter((k) => k !== 'default').sort();
    if (STABLE_NAMES_ONLY.has(spec)) {
      // The module object itself is the default export; the named exports
      // are its names that do not change while a program runs.
      assert.strictEqual(esm.default, cjs, `${spec}: ESM default`);
      for (const k of esmNames) assert.strictEqual(esm[k], cjs[k], `${spec}: ESM ${k}`);
    } else {
      assert.deepStrictEqual(esmNames, names, `${spec}: ESM names`);
      for (const k of names) assert.strictEqual(esm[k], cjs[k], `${spec}: ESM ${k}`);
    }
    if (use[spec]) await use[spec](cjs);
    console.log(`ok ${spec}${use[spec] ? '' : ' (loaded only)'}`);
  }
  for (const known of Object.keys(use)) assert.ok(entries.includes(known), `${known} is not exported`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
