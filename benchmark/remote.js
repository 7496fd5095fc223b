'use strict';

// native-workers/remote on loopback against bare NATS request/reply and
// against BullMQ on Redis, in one run, the rows interleaved run by run;
// figures are medians of the runs. A nats-server -js is started on a free
// port with a temporary store (file storage, as the stream's default), and
// every host or responder is its own process, as the callers of a fleet
// would see them.
//
//   round trip   one empty task at a time (run(null)), median latency;
//                anchors: nc.request() of the same bytes as our task frame,
//                answered with the same bytes as our result frame; and
//                BullMQ's queue.add() + job.waitUntilFinished() of the
//                same job
//   in flight    10 k small tasks (x => x + 1) submitted at once over two
//                hosts (2 threads, 64 tasks held each), tasks/s; anchors:
//                10 k requests at once over two responders in a queue
//                group; and 10 k BullMQ jobs added at once, each awaited
//                with waitUntilFinished()
//   host killed  two hosts run 40 tasks of 100 ms; one is SIGKILLed 300 ms
//                in: time from the kill until every task has its result,
//                against the ack wait (2 s)
//
// The BullMQ side: a redis-server (Debian's package, `apt-get install
// redis-server`; .ci/run installs it when missing) started here on a free
// loopback port with its directory in a fresh temporary one, Redis's
// default persistence (RDB snapshots, no append-only file), stopped when
// the benchmark ends. Two BullMQ Workers, each its own process like our
// hosts, run the same task file (benchmark/_pool_task.js) inline with
// concurrency 64 each, the 128 our two hosts hold. The jobs are added from
// this process, where one QueueEvents hears their completion; everything
// else is BullMQ's defaults (ioredis, completed jobs kept), but the events
// stream is kept long enough (maxLen 100 k) that no completion of the 10 k
// in flight is trimmed before it is read. Without redis-server (or the
// bullmq devDependency) the BullMQ rows are skipped with a message.

const assert = require('assert');
const os = require('os');
const { performance } = require('perf_hooks');
const { median, printTable, fmt } = require('./_table');
const { startServer } = require('../test/support/nats_server');
const { startHost, stopHost } = require('../test/support/remote_hosts');
const { startBull } = require('./_bullmq');
const { peer } = require('./_remote_peer');
const codec = require('../lib/internal/remote/codec');

const RUNS = Number(process.env.NW_BENCH_RUNS || 3);
const PINGS = 500;
const FLIGHT = 10000;
const ACK_WAIT = 2000;
const HELD = 64; // tasks each host (or BullMQ Worker) holds at once

async function roundTrip(run) {
  const lat = new Array(PINGS);
  for (let i = 0; i < 50; i++) await run();
  for (let i = 0; i < PINGS; i++) {
    const t0 = performance.now();
    await run();
    lat[i] = (performance.now() - t0) * 1000;
  }
  return median(lat);
}

async function inFlight(run) {
  const ps = new Array(FLIGHT);
  const t0 = performance.now();
  for (let i = 0; i < FLIGHT; i++) ps[i] = run(i);
  await Promise.all(ps);
  return FLIGHT / ((performance.now() - t0) / 1000);
}

async function hostKilled(server, round) {
  const name = `killed${round}`;
  const o = { servers: server.url, name, ackWait: ACK_WAIT, maxThreads: 2, inflight: 4 };
  const a = startHost(o);
  const b = startHost(o);
  await Promise.all([a.ready, b.ready]);
  const { RemotePool } = require('../lib/remote');
  const rp = new RemotePool({ servers: server.url, name, ackWait: ACK_WAIT, timeout: 30000 });
  const all = Promise.all(Array.from({ length: 40 }, (_, i) => rp.run({ ms: 100, v: i }, { name: 'sleep' })));
  await new Promise((r) => setTimeout(r, 300));
  const killed = performance.now();
  a.kill('SIGKILL');
  await all;
  const took = performance.now() - killed;
  await rp.close();
  await Promise.all([stopHost(a), stopHost(b)]);
  return took;
}

async function main() {
  const { connect } = require('nats');
  const { RemotePool } = require('../lib/remote');
  const load = [os.loadavg()[0]];
  const server = await startServer();
  const procs = [];
  let bull = null;
  try {
    // The anchor's bytes: our frames for run(null) and its result.
    const taskBytes = codec.taskFrame('0123456789ab-1', '_INBOX.0123456789abcdefghijkl.r', '', 0, false,
      codec.encodeValue(null)).length;
    const resultBytes = codec.resultFrame(true, '0123456789ab-1', 'host:12345', 0, codec.encodeValue(null)).length;
    procs.push(await peer('host', 'bench', server.url, String(HELD)), await peer('host', 'bench', server.url, String(HELD)));
    procs.push(await peer('reply', 'bare', server.url, String(resultBytes)),
      await peer('reply', 'bare', server.url, String(resultBytes)));
    bull = await startBull({ held: HELD });
    if (bull.skipped) {
      console.log(`(BullMQ rows skipped: ${bull.skipped})`);
      bull = null;
    }
    const rp = new RemotePool({ servers: server.url, name: 'bench', timeout: 120000, ackWait: ACK_WAIT });
    const nc = await connect({ servers: server.url });
    const req = Buffer.alloc(taskBytes, 1);
    const ours = () => rp.run(null);
    const bare = () => nc.request('bare', req, { timeout: 120000 });
    const oursInc = (i) => rp.run(i);
    // Both sides run the same task and give the same answer.
    assert.strictEqual(await rp.run(41), 42);
    if (bull !== null) assert.strictEqual(await bull.run(41), 42);
    const r = { ours: { rt: [], rate: [] }, bare: { rt: [], rate: [] }, bull: { rt: [], rate: [] }, killed: [] };
    for (let run = 0; run < RUNS; run++) {
      r.ours.rt.push(await roundTrip(ours));
      r.bare.rt.push(await roundTrip(bare));
      if (bull !== null) r.bull.rt.push(await roundTrip(() => bull.run(null)));
      r.ours.rate.push(await inFlight(oursInc));
      r.bare.rate.push(await inFlight(bare));
      if (bull !== null) r.bull.rate.push(await inFlight(bull.run));
    }
    for (let run = 0; run < RUNS; run++) r.killed.push(await hostKilled(server, run));
    load.push(os.loadavg()[0]);
    const m = (xs) => median(xs);
    const rows = [
      ['measure', 'ours', 'anchor', 'ratio', 'target'],
      ['empty task round trip, us (median)', fmt(m(r.ours.rt)), `${fmt(m(r.bare.rt))} (bare request/reply)`,
        `${fmt(m(r.ours.rt) / m(r.bare.rt))}x`, '<= 2x'],
      [`${FLIGHT / 1000} k small tasks in flight, 2 hosts, tasks/s`, fmt(m(r.ours.rate)),
        `${fmt(m(r.bare.rate))} (bare request/reply)`, `${fmt((m(r.ours.rate) / m(r.bare.rate)) * 100, 0)}%`, '>= 50%'],
    ];
    if (bull !== null) {
      const lat = m(r.ours.rt) / m(r.bull.rt);
      rows.push(
        ['empty task round trip, us (median)', fmt(m(r.ours.rt)), `${fmt(m(r.bull.rt))} (BullMQ add + waitUntilFinished)`,
          `${fmt(lat)}x (1/${fmt(1 / lat, 1)})`, '<= 1/10'],
        [`${FLIGHT / 1000} k small tasks in flight, 2 hosts, tasks/s`, fmt(m(r.ours.rate)),
          `${fmt(m(r.bull.rate))} (BullMQ, 2 Workers)`, `${fmt(m(r.ours.rate) / m(r.bull.rate))}x`, '>= 10x']);
    }
    rows.push(['host killed: until its tasks complete elsewhere, ms', fmt(m(r.killed)), `ack wait ${ACK_WAIT}`,
      `${fmt(m(r.killed) - ACK_WAIT, 0)} ms over`, '<= ack wait + 1 s']);
    printTable(rows);
    const each = (xs) => xs.map((x) => fmt(x)).join('/');
    console.log(`(${RUNS} runs; task frame ${taskBytes} B, result frame ${resultBytes} B; file storage; ` +
      `round trips: ours ${each(r.ours.rt)}, bare ${each(r.bare.rt)}` +
      `${bull !== null ? `, BullMQ ${each(r.bull.rt)}` : ''} us; ` +
      `in flight: ours ${each(r.ours.rate)}, bare ${each(r.bare.rate)}${bull !== null ? `, BullMQ ${each(r.bull.rate)}` : ''}` +
      ` tasks/s${bull !== null ? `; ${bull.about}` : ''}; load average ${load.map((x) => x.toFixed(2)).join(' -> ')})`);
    await rp.close();
    await nc.close();
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    if (bull !== null) await bull.stop();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
