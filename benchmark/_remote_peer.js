'use strict';

// A peer process of benchmark/remote.js: `host NAME URL INFLIGHT` serves the
// small task of benchmark/pool.js for NAME; `reply SUBJECT URL BYTES` is the
// bare NATS responder of the anchor, answering every request with BYTES
// bytes (in a queue group, so two of them share the requests).

const path = require('path');

const [mode, name, url, arg] = process.argv.slice(2);

async function main() {
  if (mode === 'host') {
    const { serve } = require('../lib/remote');
    await serve({
      servers: url, name, filename: path.join(__dirname, '_pool_task.js'),
      minThreads: 2, maxThreads: 2, inflight: Number(arg), ackWait: 2000,
    });
  } else {
    const { connect } = require('nats');
    const nc = await connect({ servers: url });
    const out = Buffer.alloc(Number(arg), 1);
    nc.subscribe(name, { queue: 'q', callback: (err, m) => { if (err === null) m.respond(out); } });
    await nc.flush();
  }
  process.stdout.write('ready\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
