'use strict';

// The worker side of benchmark/worker_threads.js: process.argv[2] picks
// node:worker_threads or ours; the script is the same for both.
const impl = process.argv[2] === 'node'
  ? require('worker_threads')
  : require('../lib/worker_threads');
const { parentPort } = impl;

let count = 0;
let bytes = 0;
parentPort.on('message', (m) => {
  if (m !== null && typeof m === 'object' && m.cmd !== undefined) {
    if (m.cmd === 'count') { parentPort.postMessage({ count, bytes }); count = 0; bytes = 0; }
    else if (m.cmd === 'ping') parentPort.postMessage(m);
    else if (m.cmd === 'exit') parentPort.close();
    return;
  }
  count++;
  if (m instanceof Uint8Array) bytes += m.length;
});
