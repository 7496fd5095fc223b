'use strict';

// fork() with parent and child on one CPU (taskset on the whole tree):
// there neither side burns its spin before sleeping (the header's cpu
// words); each yields the CPU to the other or sleeps at once. Round trips,
// a burst and a clean exit must work exactly as when the two run apart.

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => fs.existsSync(p));

// The first CPU this process may run on (a container may not offer CPU 0).
function firstCpu() {
  const m = /^Cpus_allowed_list:\s*(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? m[1] : '0';
}

// Runs in the pinned process: forks the echo fixture through our fork().
const SCRIPT = `
const assert = require('assert');
const { fork } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'child_process'))});
const cp = fork(${JSON.stringify(path.join(__dirname, 'fixtures', 'fork-echo.js'))});
const next = () => new Promise((resolve) => cp.once('message', resolve));
(async () => {
  for (let i = 0; i < 300; i++) {
    const back = next();
    cp.send({ i, s: 'x'.repeat(i % 50) });
    assert.deepStrictEqual(await back, { i, s: 'x'.repeat(i % 50) });
  }
  const seen = [];
  const done = new Promise((resolve) => cp.on('message', (m) => {
    if (m.burstDone !== undefined) resolve(m.burstDone);
    else seen.push(m.seq);
  }));
  cp.send({ cmd: 'burst', n: 20000 });
  assert.strictEqual(await done, 20000);
  assert.strictEqual(seen.length, 20000);
  for (let i = 0; i < seen.length; i++) assert.strictEqual(seen[i], i);
  const exited = new Promise((resolve) => cp.on('exit', (code) => resolve(code)));
  cp.send({ cmd: 'exit', code: 0 });
  assert.strictEqual(await exited, 0);
  console.log('same-cpu ok');
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe('fork(): parent and child pinned to one CPU', function () {
  it('round trips, a burst and exit work as when the sides run apart', function () {
    if (TASKSET === undefined) this.skip();
    const r = spawnSync(TASKSET, ['-c', firstCpu(), process.execPath, '-e', SCRIPT], { encoding: 'utf8', timeout: 50000 });
    assert.strictEqual(r.status, 0, `status ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /same-cpu ok/);
  });
});
