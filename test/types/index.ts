// Typed use of the main entry, checked by scripts/check-types.js with
// tsc --strict. Each @ts-expect-error line is misuse the types must catch.
import * as os from 'os';
import { RingBuffer, ThreadPool, version, child_process, worker_threads } from 'native-workers';
import type { RingBufferOptions, ThreadPoolStats } from 'native-workers';

const opts: RingBufferOptions = { producers: 'multi', consumers: 'single' };
const rb = new RingBuffer(1 << 16, opts);
const same: RingBuffer = RingBuffer.from(rb.buffer);
const wrote: boolean = rb.tryWrite('hello') && rb.write(new Uint8Array(4), { timeout: 10 });
const msg: Buffer | null = same.tryRead();
const n: number = rb.tryReadInto(Buffer.alloc(rb.maxMessageSize));
const v: string = version;

async function main(): Promise<void> {
  await rb.writeAsync(new Float64Array([1]), { signal: AbortSignal.timeout(10) });
  const next: Buffer | null = await rb.readAsync({ timeout: 5 });
  for await (const m of rb) { const b: Buffer = m; void b; }

  const pool = new ThreadPool({ threads: os.availableParallelism(), maxQueue: Infinity });
  const digest: Buffer = await pool.run('sha256', 'abc');
  const crc: number = await pool.run('crc32', Buffer.from('abc'));
  const total: bigint = await pool.run('sum', new BigInt64Array(2));
  const names: string[] = pool.load('./libk.so').concat(pool.kernels);
  const stats: ThreadPoolStats = pool.stats;
  await pool.close();
  void [next, digest, crc, total, names, stats];
}

// The namespaces are the subpath entries.
const cp: typeof import('native-workers/child_process') = child_process;
const wt: typeof import('native-workers/worker_threads') = worker_threads;

// @ts-expect-error capacity is a number
new RingBuffer('big');
// @ts-expect-error producers is 'single' or 'multi'
new RingBuffer(64, { producers: 'many' });
// @ts-expect-error tryRead may give null
const notNull: Buffer = rb.tryRead();
// @ts-expect-error a ring carries bytes or strings, not objects
rb.tryWrite({ a: 1 });
// @ts-expect-error ThreadPool options are named
new ThreadPool(4);
// @ts-expect-error sha256 resolves a Buffer
const wrong: Promise<number> = new ThreadPool().run('sha256', 'x');
// @ts-expect-error version is read-only
version = '2';

void [same, wrote, msg, n, v, main, cp, wt, notNull, wrong];
