'use strict';

// What the parent sends right after fork() waits until the child listens,
// whatever kind of module the child is and however late it listens — as
// with Node's fork. Compared with node:child_process for each child kind,
// in both serializations.

const assert = require('assert');
const path = require('path');
const nodeCp = require('child_process');
const ours = require('../lib/child_process');

const DIR = path.join(__dirname, 'fixtures', 'late-listeners');
const KINDS = {
  'CommonJS': 'echo.js',
  '.mjs': 'echo.mjs',
  '"type": "module" package': path.join('module-pkg', 'echo.js'),
  'top-level await before the listener': 'tla.mjs',
  'listener attached after 500 ms': 'late.js',
};

// fork, send three messages at once, and collect what comes back until
// the child exits.
function exchange(cp, file, serialization) {
  return new Promise((resolve, reject) => {
    // silent: Node's own child prints the TypeError of its pending-message
    // code after answering (see below).
    const child = cp.fork(path.join(DIR, file), [], { serialization, silent: true });
    const got = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file}: no answer in 10 s (got ${JSON.stringify(got)})`));
    }, 10000);
    child.send({ n: 1, s: 'hi' });
    child.send('second');
    child.send([3]);
    child.on('message', (m) => got.push(m));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ got, code });
    });
  });
}

describe('fork(): messages sent before the child listens', function () {
  this.timeout(30000);
  for (const serialization of ['json', 'advanced']) {
    for (const [kind, file] of Object.entries(KINDS)) {
      it(`${kind}, ${serialization}: what was sent first reaches the child in order, as with Node`, async () => {
        const [n, o] = await Promise.all([exchange(nodeCp, file, serialization), exchange(ours, file, serialization)]);
        assert.deepStrictEqual(o.got, n.got);
        assert.deepStrictEqual(o.got, ['echo:[{"n":1,"s":"hi"},"second",[3]]']);
        // Node 20's own child dies here after its answer (a TypeError in its
        // pending-message code once the listener has disconnected); ours
        // exits cleanly.
        assert.strictEqual(o.code, 0);
      });
    }
  }

  it('the parent keeps messages from the child until it listens', async () => {
    for (const cp of [nodeCp, ours]) {
      const child = cp.fork(path.join(DIR, 'hello.js'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const m = await new Promise((resolve) => child.once('message', resolve));
      assert.strictEqual(m, 'hello');
      child.send('bye');
      await new Promise((resolve) => child.on('exit', resolve));
    }
  });
});
