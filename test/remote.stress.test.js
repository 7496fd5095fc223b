'use strict';

// Soak of native-workers/remote (NW_STRESS=1, `npm run test:stress`): 100 k
// tasks over three host processes while one host is SIGKILLed and started
// again every 10 s. Every task must have exactly one result, the right one;
// none is lost. NW_STRESS_TASKS changes the count.

const assert = require('assert');
const path = require('path');
const { RemotePool } = require('../lib/remote');
const { available, startServer } = require('./support/nats_server');
const { startHost, stopHost } = require('./support/remote_hosts');

const STRESS = process.env.NW_STRESS === '1';
const TASKS = Number(process.env.NW_STRESS_TASKS || 100000);
const ACK_WAIT = 2000;

(STRESS ? describe : describe.skip)('native-workers/remote soak', function () {
  this.timeout(1800000);
  let server;
  const hosts = [];

  before(async function () {
    if (!available()) this.skip();
    server = await startServer();
  });

  after(async () => {
    await Promise.all(hosts.map(stopHost));
    if (server) await server.stop();
  });

  it(`${TASKS} tasks over 3 hosts, one killed and restarted every 10 s: one result each`, async () => {
    const o = { servers: server.url, name: 'soak', ackWait: ACK_WAIT, maxThreads: 2, inflight: 32, maxDeliver: 20 };
    const live = [startHost(o), startHost(o), startHost(o)];
    hosts.push(...live);
    await Promise.all(live.map((h) => h.ready));
    const rp = new RemotePool({ servers: server.url, name: 'soak', ackWait: ACK_WAIT, maxDeliver: 20, timeout: 1500000 });
    let kills = 0;
    let restarted = 0;
    let victim = 0;
    let restart = Promise.resolve();
    const killer = setInterval(() => {
      const slot = victim;
      const h = live[slot];
      victim = (victim + 1) % live.length;
      h.kill('SIGKILL');
      kills++;
      // Waited for before the test ends, so no fresh host outlives it.
      restart = restart.then(async () => {
        await h.exited;
        const fresh = startHost(o);
        hosts.push(fresh);
        live[slot] = fresh;
        await fresh.ready;
        restarted++;
      });
    }, 10000);
    const counts = new Uint8Array(TASKS);
    const WINDOW = 5000; // tasks in flight at once
    let next = 0;
    const worker = async () => {
      while (next < TASKS) {
        const i = next++;
        const r = await rp.run({ i, ms: 0 }, { name: 'pid' });
        assert.strictEqual(r.i, i);
        counts[i]++;
      }
    };
    const started = Date.now();
    try {
      await Promise.all(Array.from({ length: WINDOW }, worker));
    } finally {
      clearInterval(killer);
      await restart;
    }
    const took = (Date.now() - started) / 1000;
    for (let i = 0; i < TASKS; i++) assert.strictEqual(counts[i], 1, `task ${i}: ${counts[i]} results`);
    assert.strictEqual(rp.completed, TASKS);
    assert.strictEqual(rp.queueSize, 0);
    console.log(`      ${TASKS} tasks in ${took.toFixed(1)} s, ${kills} hosts killed and ${restarted} restarted, ` +
      `${rp.stats.duplicates} duplicate results dropped, results per host: ${JSON.stringify(rp.stats.hosts)}`);
    await rp.close();
  });
});
