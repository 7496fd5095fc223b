// Typed use of native-workers/pool, as one would use piscina.
// (import types, so that one file checks under every module setting; the
// module itself is `module.exports = Pool` with Pool.default, Pool.Piscina)
declare const Pool: typeof import('native-workers/pool');

const pool = new Pool<{ a: number; b: number }, number>({
  filename: '/tmp/task.js', minThreads: 1, maxThreads: 2, maxQueue: 'auto', idleTimeout: 1000,
});
const ac = new AbortController();
const sum: Promise<number> = pool.run({ a: 1, b: 2 }, { name: 'add', signal: ac.signal });
const buf = new ArrayBuffer(8);
const moved = Pool.move(buf);
void pool.run({ a: 1, b: 2 }, { transferList: [buf] });
const waits: number = pool.histogram.waitTime.p99;
const runs: number = pool.histogram.runTime.average;
pool.histogram.resetRunTime();
pool.on('drain', () => void pool.needsDrain);
const inThread: boolean = Pool.isWorkerThread;
const same: typeof Pool = Pool.Piscina;
void pool.close({ force: true });
void [sum, moved, waits, runs, inThread, same, pool.utilization, pool.completed, pool.queueSize];
const st: import('native-workers').ThreadPoolStats = pool.stats;
const p99: number = pool.stats.runTime.p99 + st.failed + st.cancelled;
void p99;
// @ts-expect-error stats is read-only
pool.stats = st;
// @ts-expect-error the task has this shape
void pool.run('not a task');
