'use strict';

// The cluster program of benchmark/cluster.js, under node:cluster
// (NW_CLUSTER=node) or native-workers/cluster (NW_CLUSTER=ours):
//   serve  2 workers with the same http server; prints `port <n>` once both
//          listen, and disconnects when stdin ends
//   fork   `fork()` until 'online', N times one after the other; prints
//          `fork <ms median>`
//   rtt    worker.send() there and back, N times; prints `rtt <us median>`
// The workers' code uses only require('cluster') and http.

const cluster = require('cluster');
const http = require('http');

const mode = process.argv[2];

if (cluster.isPrimary) {
  const c = process.env.NW_CLUSTER === 'ours' ? require('../lib/cluster') : cluster;
  const { median } = require('./_table');
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  if (mode === 'serve') {
    c.fork();
    c.fork();
    let n = 0;
    c.on('listening', (w, a) => {
      if (++n === 2) process.stdout.write(`port ${a.port}\n`);
    });
    process.stdin.resume();
    process.stdin.on('end', () => c.disconnect());
  } else if (mode === 'fork') {
    c.setupPrimary({ args: ['idle'] });
    (async () => {
      const times = [];
      for (let i = 0; i < Number(process.argv[3]); i++) {
        const t0 = now();
        const w = c.fork();
        await new Promise((resolve) => w.once('online', resolve));
        times.push(now() - t0);
        w.disconnect();
        await new Promise((resolve) => w.once('exit', resolve));
      }
      process.stdout.write(`fork ${median(times)}\n`);
    })();
  } else if (mode === 'rtt') {
    c.setupPrimary({ args: ['echo'] });
    const w = c.fork();
    w.once('online', async () => {
      const n = Number(process.argv[3]);
      const times = [];
      const msg = { seq: 0, op: 'ping' };
      for (let i = 0; i < n; i++) {
        msg.seq = i;
        const t0 = now();
        w.send(msg);
        await new Promise((resolve) => w.once('message', resolve));
        times.push((now() - t0) * 1000);
      }
      process.stdout.write(`rtt ${median(times)}\n`);
      w.disconnect();
    });
  }
} else if (mode === 'serve') {
  const body = 'hello world';
  http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(body);
  }).listen(0);
} else if (mode === 'echo') {
  process.on('message', (m) => process.send(m));
}
