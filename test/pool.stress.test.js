'use strict';

// Soak of native-workers/pool (NW_STRESS=1, `npm run test:stress`; skipped
// otherwise), for both runtimes: a million tasks whose results carry
// checksums, with ten thousand worker crashes injected among them (a task
// that calls process.exit(), or one that leaves an exception to be thrown
// outside any task). Every promise must settle within a bounded wait, each
// with its own checksum or a crash's rejection; afterwards no file
// descriptor or thread of this process is left over. runtime: 'process'
// starts a process for every crash (~10x a thread's cost here), so it runs
// a tenth: 100 k tasks, 1 k crashes. NW_STRESS_TASKS / NW_STRESS_CRASHES
// set the thread runtime's figures (the process runtime takes a tenth).

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const Pool = require('../lib/pool');
const { check } = require('./fixtures/pool/soak');

const STRESS = process.env.NW_STRESS === '1';
const TASKS = Number(process.env.NW_STRESS_TASKS || 1000000);
const CRASHES = Number(process.env.NW_STRESS_CRASHES || 10000);
const SOAK = path.join(__dirname, 'fixtures', 'pool', 'soak.js');
const WINDOW = 20000; // tasks in flight at most
const WINDOW_WAIT = 120000; // ms a window may take before it counts as hung

const count = (dir) => fs.readdirSync(dir).length;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Waits (bounded) until fds and threads are back to `base`.
async function settled(base) {
  let now;
  for (let i = 0; i < 200; i++) {
    now = { fds: count('/proc/self/fd'), threads: count('/proc/self/task') };
    if (now.fds <= base.fds && now.threads <= base.threads) return now;
    await sleep(50);
  }
  return now;
}

// A small seeded generator, so that a failing run can be repeated.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

async function soak(runtime, tasks, crashes) {
  const started = Date.now();
  // Warm up what lives as long as the process (the addon, its doorbell
  // threads) before the baseline.
  const warm = new Pool({ runtime, filename: SOAK, minThreads: 1, maxThreads: 1 });
  await warm.run({ seq: 0, payload: 'warm', crash: 0 });
  await warm.close();
  await sleep(200);
  const base = { fds: count('/proc/self/fd'), threads: count('/proc/self/task') };

  const pool = new Pool({ runtime, filename: SOAK });
  const poolErrors = [];
  pool.on('error', (err) => poolErrors.push(err)); // a thread that died between tasks
  const random = rng(0x5eed + tasks);
  const every = Math.floor(tasks / crashes);
  let ok = 0;
  let crashRejections = 0;
  let collateral = 0; // tasks rejected because a crash took their thread
  let injected = 0;
  for (let from = 0; from < tasks; from += WINDOW) {
    const to = Math.min(tasks, from + WINDOW);
    const promises = [];
    const kinds = [];
    for (let seq = from; seq < to; seq++) {
      let crash = 0;
      if (seq % every === every - 1 && injected < crashes) {
        crash = random() < 0.5 ? 1 : 2;
        injected++;
      }
      kinds.push(crash);
      promises.push(pool.run({ seq, payload: `p${seq * 7919}`, crash }));
    }
    const states = new Array(promises.length).fill(null);
    const all = Promise.all(promises.map((p, i) => p.then(
      (v) => { states[i] = ['ok', v]; },
      (e) => { states[i] = ['err', e]; })));
    let timer;
    const hung = new Promise((resolve) => { timer = setTimeout(resolve, WINDOW_WAIT, 'hung'); });
    const first = await Promise.race([all, hung]);
    clearTimeout(timer);
    const pending = states.reduce((n, s) => n + (s === null ? 1 : 0), 0);
    assert.ok(first !== 'hung' && pending === 0,
      `${runtime}: ${pending} promises of tasks ${from}..${to - 1} unsettled after ${WINDOW_WAIT} ms`);
    for (let i = 0; i < states.length; i++) {
      const seq = from + i;
      const [kind, v] = states[i];
      if (kind === 'ok') {
        assert.strictEqual(kinds[i] === 1, false, `task ${seq} should have exited`);
        assert.ok(v !== null && v.seq === seq && v.sum === check(seq, `p${seq * 7919}`),
          `task ${seq}: wrong result ${JSON.stringify(v)}`);
        ok++;
      } else {
        // Only a crash may fail a task: its own, or its thread's.
        const why = v.code === 'ERR_POOL_WORKER_EXITED' || /^soak crash after/.test(v.message);
        assert.ok(why, `task ${seq} rejected for another reason: ${v.code} ${v.stack}`);
        if (kinds[i] !== 0) crashRejections++;
        else collateral++;
      }
    }
  }
  assert.strictEqual(injected, crashes);
  const stats = pool.stats;
  assert.strictEqual(stats.completed, ok);
  assert.strictEqual(stats.failed, tasks - ok);
  assert.strictEqual(stats.queued + stats.running, 0);
  await pool.close();
  const after = await settled(base);
  const took = (Date.now() - started) / 1000;
  console.log(`      ${runtime}: ${tasks} tasks, ${crashes} crashes injected in ${took.toFixed(1)} s: ` +
    `${ok} results checked, ${crashRejections} crashing tasks and ${collateral} others on their threads rejected, ` +
    `${poolErrors.length} 'error' events; fds ${base.fds} -> ${after.fds}, threads ${base.threads} -> ${after.threads}`);
  assert.ok(after.fds <= base.fds, `fds leaked: ${base.fds} before, ${after.fds} after`);
  assert.ok(after.threads <= base.threads, `threads leaked: ${base.threads} before, ${after.threads} after`);
  assert.strictEqual(pool.threads.length, 0);
}

(STRESS ? describe : describe.skip)('native-workers/pool soak', function () {
  this.timeout(0); // each window has its own bounded wait

  it(`runtime 'thread': ${TASKS} tasks with checksums, ${CRASHES} crashes, no hang, no leak`, () =>
    soak('thread', TASKS, CRASHES));

  it(`runtime 'process': ${TASKS / 10} tasks with checksums, ${CRASHES / 10} crashes, no hang, no leak`, () =>
    soak('process', TASKS / 10, CRASHES / 10));
});
