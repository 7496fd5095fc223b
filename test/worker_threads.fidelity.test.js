'use strict';

// Each scenario in test/fixtures/fidelity runs once with node:worker_threads
// and once with the mirror, in a process of its own, and prints what a user
// sees; the two must be the same, and both must end (a hang fails).

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { execFile } = require('child_process');

const DIR = path.join(__dirname, 'fixtures', 'fidelity');
const OURS = path.join(__dirname, '..', 'lib', 'worker_threads');

function run(file, impl) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(DIR, file), impl], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.killed ? 'killed (hang)' : err.code) : 0, stdout, stderr: err ? stderr : '' });
    });
  });
}

describe('worker_threads: scenarios against node:worker_threads', function () {
  this.timeout(60000);
  for (const file of fs.readdirSync(DIR).filter((f) => f.endsWith('.js')).sort()) {
    it(path.basename(file, '.js'), async () => {
      const [node, ours] = await Promise.all([run(file, 'worker_threads'), run(file, OURS)]);
      assert.strictEqual(node.code, 0, `under Node: ${node.stderr}`);
      assert.deepStrictEqual({ code: ours.code, stdout: ours.stdout }, { code: node.code, stdout: node.stdout }, ours.stderr);
      assert.ok(node.stdout.length > 2, 'the scenario printed its log');
    });
  }
});
