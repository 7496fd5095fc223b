'use strict';

// A worker sums numbers the main thread streams to it through a RingBuffer,
// and streams the running totals back; the main thread reads them without
// blocking its event loop.
//   node ring.js

const { Worker, isMainThread, workerData } = require('worker_threads');
const { RingBuffer } = require('native-workers');

if (isMainThread) {
  const toWorker = new RingBuffer(64 * 1024);
  const fromWorker = new RingBuffer(64 * 1024);
  const worker = new Worker(__filename, { workerData: [toWorker.buffer, fromWorker.buffer] });
  (async () => {
    for (let i = 1; i <= 1000; i++) {
      const msg = Buffer.alloc(8);
      msg.writeDoubleLE(i);
      await toWorker.writeAsync(msg);
    }
    toWorker.close();
    let last = 0;
    for await (const m of fromWorker) last = m.readDoubleLE(0);
    console.log('sum of 1..1000 =', last);
    await worker.terminate();
  })();
} else {
  const [inBuf, outBuf] = workerData;
  const input = RingBuffer.from(inBuf);
  const output = RingBuffer.from(outBuf);
  let sum = 0;
  for (let m = input.read(); m !== null; m = input.read()) {
    sum += m.readDoubleLE(0);
    const out = Buffer.alloc(8);
    out.writeDoubleLE(sum);
    output.write(out);
  }
  output.close();
}
