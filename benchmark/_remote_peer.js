'use strict';

// A peer process of benchmark/remote.js: `host NAME URL INFLIGHT` serves the
// small task of benchmark/pool.js for NAME; `reply SUBJECT URL BYTES` is the
// bare NATS responder of the anchor, answering every request with BYTES
// bytes (in a queue group, so two of them share the requests);
// `bullmq QUEUE PORT CONCURRENCY` is a BullMQ Worker for QUEUE on the Redis
// at 127.0.0.1:PORT running the same small task, CONCURRENCY jobs at once.
// Required instead of run, it gives the parent's side: peer(...args)
// starts one and resolves with its ChildProcess once it is ready.

const { spawn } = require('child_process');
const path = require('path');

const TASK = path.join(__dirname, '_pool_task.js');

function peer(...args) {
  const child = spawn(process.execPath, [__filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(child); });
    child.once('exit', (code) => reject(new Error(`peer ${args[0]} exited with ${code}`)));
  });
}

async function main() {
  const [mode, name, url, arg] = process.argv.slice(2);
  if (mode === 'host') {
    const { serve } = require('../lib/remote');
    await serve({
      servers: url, name, filename: TASK,
      minThreads: 2, maxThreads: 2, inflight: Number(arg), ackWait: 2000,
    });
  } else if (mode === 'bullmq') {
    const { Worker } = require('bullmq');
    const task = require(TASK);
    const worker = new Worker(name, (job) => task(job.data), {
      connection: { host: '127.0.0.1', port: Number(url) }, concurrency: Number(arg),
    });
    worker.on('error', (err) => process.stderr.write(`bullmq worker: ${err.stack}\n`));
    await worker.waitUntilReady();
  } else {
    const { connect } = require('nats');
    const nc = await connect({ servers: url });
    const out = Buffer.alloc(Number(arg), 1);
    nc.subscribe(name, { queue: 'q', callback: (err, m) => { if (err === null) m.respond(out); } });
    await nc.flush();
  }
  process.stdout.write('ready\n');
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
}

module.exports = { peer };
