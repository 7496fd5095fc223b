'use strict';

// Code inside a Worker of the mirror that uses node:worker_threads itself
// (as libraries do) sees the mirror's parentPort and workerData: every
// message reaches whichever side listens. Each scenario runs under Node's
// Worker and under ours, and what the main thread sees is compared.

const assert = require('assert');
const path = require('path');
const nodeWT = require('worker_threads');
const ours = require('../lib/worker_threads');

const DIR = path.join(__dirname, 'fixtures', 'mixing');

// Start `file` (or eval code), answer its second message... collect until
// the worker exits.
function converse(wt, file, options = {}) {
  return new Promise((resolve, reject) => {
    const w = new wt.Worker(file, { workerData: { n: 1, list: ['a'] }, ...options });
    const got = [];
    const timer = setTimeout(() => { w.terminate(); reject(new Error(`no end (got ${JSON.stringify(got)})`)); }, 10000);
    w.on('message', (m) => {
      got.push(m);
      if (got.length === 1 || m === 'listening') w.postMessage('ping');
      if (typeof m === 'string' && m.startsWith('pong:')) w.terminate();
    });
    w.on('error', (e) => { clearTimeout(timer); reject(e); });
    w.on('exit', () => { clearTimeout(timer); resolve(got); });
  });
}

describe('worker_threads: node:worker_threads inside a Worker of the mirror', function () {
  this.timeout(30000);
  const cases = {
    "require('worker_threads')": [path.join(DIR, 'cjs.js')],
    "createRequire(...)('node:worker_threads')": [path.join(DIR, 'node-prefix.js')],
    'process.getBuiltinModule and a late require': [path.join(DIR, 'builtin.js')],
    'ESM import (named and default)': [path.join(DIR, 'esm.mjs')],
    'receiveMessageOnPort of Node\'s module': [path.join(DIR, 'receive.js')],
    'eval code': [
      "const { parentPort, workerData } = require('worker_threads');" +
      "parentPort.postMessage(workerData); parentPort.once('message', (m) => parentPort.postMessage('pong:' + m));",
      { eval: true }],
    'a file: URL': [require('url').pathToFileURL(path.join(DIR, 'cjs.js'))],
  };
  for (const [name, [file, options]] of Object.entries(cases)) {
    it(`${name}: the same messages both ways as under Node's Worker`, async () => {
      const node = await converse(nodeWT, file, options);
      const mine = await converse(ours, file, options);
      assert.deepStrictEqual(mine, node);
      assert.ok(node.some((m) => typeof m === 'string' && m === 'pong:ping'), JSON.stringify(node));
    });
  }

  it("the thread's process.execArgv is what Node's would show", async () => {
    const code = "require('worker_threads').parentPort.postMessage(process.execArgv)";
    for (const execArgv of [undefined, [], ['--no-warnings']]) {
      const got = await Promise.all([nodeWT, ours].map((wt) => new Promise((resolve, reject) => {
        const w = new wt.Worker(code, { eval: true, execArgv });
        w.once('message', resolve);
        w.once('error', reject);
      })));
      assert.deepStrictEqual(got[1], got[0], String(execArgv));
    }
  });

  it('a bad execArgv is refused with Node\'s error', () => {
    for (const execArgv of ['--x', 5, ['--expose-gc']]) {
      let nodeErr;
      try { new nodeWT.Worker('1', { eval: true, execArgv }).terminate(); } catch (e) { nodeErr = e; }
      assert.throws(() => new ours.Worker('1', { eval: true, execArgv }).terminate(),
        (e) => e.code === nodeErr.code && e.message === nodeErr.message);
    }
  });
});
