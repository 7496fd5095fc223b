'use strict';

// A cluster of http servers on one port: the same program as with
// node:cluster, only the primary's require changes. The workers' code is
// untouched (it may keep require('node:cluster')).
//   node examples/cluster.js
const cluster = require('native-workers/cluster');
const http = require('http');

if (cluster.isPrimary) {
  for (let i = 0; i < 2; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', async (worker, address) => {
    if (++listening < 2) return;
    for (let i = 0; i < 4; i++) {
      const body = await new Promise((resolve) => {
        http.get({ port: address.port, agent: false }, (res) => {
          let b = '';
          res.on('data', (d) => { b += d; });
          res.on('end', () => resolve(b));
        });
      });
      console.log(body);
    }
    // Workers close their servers and exit; then so does the primary.
    cluster.disconnect(() => console.log('all workers disconnected'));
  });
  cluster.on('exit', (worker, code) => console.log(`worker ${worker.id} exited with ${code}`));
} else {
  http.createServer((req, res) => {
    res.end(`hello from worker ${cluster.worker.id}`);
  }).listen(0);
}
