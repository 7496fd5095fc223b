'use strict';

// spawn benchmark: native-workers/child_process against node:child_process.
//
//   spawn('/bin/true') to 'exit'  from a small parent and from parents with
//                                 1 GB and 4 GB resident (the cost of Node's
//                                 fork() grows with the parent's memory)
//   execFile('/bin/echo') round trip (callback with the output)
//   spawnSync('/bin/true')
//   64 MiB of output through a pipe (MB/s)
//
// Each parent size runs in its own child process of this script (so the
// runner itself stays small); the big ones allocate and touch their memory
// first so it is resident. Ours and Node's runs alternate, and the table
// shows medians. Usage: node benchmark/spawn.js [--quick]

const { execFileSync } = require('child_process');

const { median, printTable, fmt } = require('./_table');

const GB = 1024 ** 3;
const quick = process.argv.includes('--quick');

function now() { return Number(process.hrtime.bigint()) / 1e6; }

async function spawnToExit(cp) {
  const t0 = now();
  await new Promise((resolve, reject) => {
    const c = cp.spawn('/bin/true', [], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', resolve);
  });
  return now() - t0;
}

async function execFileRound(cp) {
  const t0 = now();
  await new Promise((resolve, reject) => {
    cp.execFile('/bin/echo', ['hello'], (err, out) => (err ? reject(err) : resolve(out)));
  });
  return now() - t0;
}

async function spawnSyncTrue(cp) {
  const t0 = now();
  cp.spawnSync('/bin/true');
  return now() - t0;
}

async function pipe64(cp) {
  const size = 64 * 1024 * 1024;
  const t0 = now();
  const n = await new Promise((resolve, reject) => {
    const c = cp.spawn('head', ['-c', String(size), '/dev/zero']);
    let got = 0;
    c.stdout.on('data', (d) => { got += d.length; });
    c.on('error', reject);
    c.on('close', () => resolve(got));
  });
  if (n !== size) throw new Error(`pipe delivered ${n} bytes`);
  return now() - t0; // ms for 64 MiB
}

// Alternate ours and Node's; returns medians in ms.
async function measure(fn, iters) {
  const ours = require('../lib/child_process');
  const node = require('child_process');
  await fn(ours);
  await fn(node);
  const a = [];
  const b = [];
  for (let i = 0; i < iters; i++) {
    a.push(await fn(ours));
    b.push(await fn(node));
  }
  return { ours: median(a), node: median(b) };
}

async function worker(bytes) {
  const hold = [];
  const chunk = 256 * 1024 * 1024;
  for (let left = bytes; left > 0; left -= chunk) {
    const b = Buffer.allocUnsafeSlow(Math.min(chunk, left));
    b.fill(1); // touch every page so it is resident
    hold.push(b);
  }
  const small = bytes === 0;
  const iters = quick ? 5 : small ? 200 : bytes > 2 * GB ? 15 : 30;
  const out = { rss: process.memoryUsage().rss, spawn: await measure(spawnToExit, iters) };
  if (small) {
    out.execFile = await measure(execFileRound, quick ? 5 : 100);
    out.spawnSync = await measure(spawnSyncTrue, quick ? 5 : 100);
    out.pipe = await measure(pipe64, quick ? 2 : 7);
  }
  process.stdout.write(JSON.stringify(out));
  if (hold.length < 0) console.log(hold); // keep the memory alive until here
}

function main() {
  const sizes = [0, 1 * GB, 4 * GB];
  const rows = [['case', 'native-workers', 'node:child_process', 'ratio (node / ours)']];
  for (const bytes of sizes) {
    const json = execFileSync(process.execPath, [__filename, '--worker', String(bytes), ...(quick ? ['--quick'] : [])],
      { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
    const r = JSON.parse(json);
    const label = bytes === 0 ? `small parent (rss ${fmt(r.rss / 2 ** 20, 0)} MiB)` : `${bytes / GB} GB parent (rss ${fmt(r.rss / GB, 1)} GiB)`;
    rows.push([`spawn('/bin/true') to exit, ${label}`, `${fmt(r.spawn.ours)} ms`, `${fmt(r.spawn.node)} ms`,
      `${fmt(r.spawn.node / r.spawn.ours)}x`]);
    if (r.execFile) {
      rows.push(["execFile('/bin/echo') round trip", `${fmt(r.execFile.ours)} ms`, `${fmt(r.execFile.node)} ms`,
        `${fmt(r.execFile.node / r.execFile.ours)}x`]);
      rows.push(["spawnSync('/bin/true')", `${fmt(r.spawnSync.ours)} ms`, `${fmt(r.spawnSync.node)} ms`,
        `${fmt(r.spawnSync.node / r.spawnSync.ours)}x`]);
      const mbs = (ms) => (64 * 1024 * 1024) / 1e6 / (ms / 1000);
      rows.push(['64 MiB through a pipe', `${fmt(mbs(r.pipe.ours), 0)} MB/s`, `${fmt(mbs(r.pipe.node), 0)} MB/s`,
        `${fmt(r.pipe.node / r.pipe.ours)}x`]);
    }
  }
  printTable(rows);
  console.log('medians; ratio > 1 means native-workers is faster');
}

if (process.argv[2] === '--worker') {
  worker(Number(process.argv[3])).catch((e) => { console.error(e); process.exit(1); });
} else {
  main();
}

