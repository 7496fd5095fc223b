'use strict';

// ThreadPool.load: user kernels compiled during the test from C files
// against include/native_workers.h, and every way a library can be wrong.

const assert = require('assert');
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { ThreadPool } = require('..');

const root = path.join(__dirname, '..');
const fixtures = path.join(__dirname, 'fixtures', 'kernels');

function compile(dir, src, name) {
  const out = path.join(dir, name);
  execFileSync(process.env.CC || 'cc', ['-shared', '-fPIC', '-O2', `-I${path.join(root, 'include')}`,
    '-o', out, src], { stdio: 'pipe' });
  return out;
}

describe('ThreadPool.load', function () {
  this.timeout(60000);
  let dir, libs, pool;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-kernels-'));
    libs = {
      example: compile(dir, path.join(root, 'examples', 'thread_pool_kernel.c'), 'libexample.so'),
      good: compile(dir, path.join(fixtures, 'good.c'), 'libgood.so'),
      noTable: compile(dir, path.join(fixtures, 'no_table.c'), 'libnotable.so'),
      wrongAbi: compile(dir, path.join(fixtures, 'wrong_abi.c'), 'libwrongabi.so'),
      clash: compile(dir, path.join(fixtures, 'clash.c'), 'libclash.so'),
      badName: compile(dir, path.join(fixtures, 'bad_name.c'), 'libbadname.so'),
      misbehaving: compile(dir, path.join(fixtures, 'misbehaving.c'), 'libmisbehaving.so'),
    };
    fs.writeFileSync(path.join(dir, 'not-a-library.so'), 'this is text, not ELF\n');
  });
  beforeEach(() => { pool = new ThreadPool({ threads: 2 }); });
  afterEach(() => pool.close());
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('loads the example kernel library and runs its kernels', async () => {
    assert.deepStrictEqual(pool.load(libs.example), ['upper', 'count']);
    assert.ok(pool.kernels.includes('upper') && pool.kernels.includes('sha256'));
    assert.strictEqual((await pool.run('upper', 'Hello, wörld')).toString(), 'HELLO, WöRLD');
    const hist = await pool.run('count', Buffer.from('aab'));
    const counts = new Uint32Array(hist.buffer, hist.byteOffset, 256);
    assert.strictEqual(counts[97], 2);
    assert.strictEqual(counts[98], 1);
    // Other pools do not see it.
    const other = new ThreadPool({ threads: 1 });
    assert.ok(!other.kernels.includes('upper'));
    await assert.rejects(other.run('upper', 'x'), { code: 'ERR_UNKNOWN_KERNEL' });
    await other.close();
  });

  it('accepts a relative path', async () => {
    const rel = path.relative(process.cwd(), libs.example);
    assert.deepStrictEqual(pool.load(rel), ['upper', 'count']);
  });

  it('passes failures, errnos, numbers, in-place results and cancellation through', async () => {
    pool.load(libs.good);
    await assert.rejects(pool.run('test.boom'), { code: 'ERR_BOOM', message: 'the kernel went boom', errno: -42 });
    await assert.rejects(pool.run('test.errno'), { code: 'EDOM', errno: -33 });
    assert.strictEqual(await pool.run('test.length', new Float64Array(3)), 24);
    const shared = new Uint8Array(new SharedArrayBuffer(3));
    shared.set([1, 2, 3]);
    assert.strictEqual(await pool.run('test.twice', shared), shared);
    assert.deepStrictEqual(Array.from(shared), [2, 4, 6]);
    const ac = new AbortController();
    const p = pool.run('test.spin', undefined, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 30));
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    assert.strictEqual(pool.stats.cancelled, 1);
  });

  it('refuses a path that does not exist', () => {
    assert.throws(() => pool.load(path.join(dir, 'missing.so')), { code: 'ERR_DLOPEN_FAILED', message: /No such file/ });
    assert.throws(() => pool.load(dir), { code: 'ERR_DLOPEN_FAILED' });
  });

  it('refuses a file that is not a shared library', () => {
    assert.throws(() => pool.load(path.join(dir, 'not-a-library.so')), { code: 'ERR_DLOPEN_FAILED' });
  });

  it('refuses a library without a kernel table', () => {
    assert.throws(() => pool.load(libs.noTable), { code: 'ERR_INVALID_KERNEL_LIBRARY', message: /nw_kernels/ });
  });

  it('refuses a table of another ABI version', () => {
    assert.throws(() => pool.load(libs.wrongAbi), { code: 'ERR_INVALID_KERNEL_LIBRARY', message: /ABI version 99/ });
    assert.ok(!pool.kernels.includes('future.kernel'));
  });

  it('refuses a malformed kernel name', () => {
    assert.throws(() => pool.load(libs.badName), { code: 'ERR_INVALID_KERNEL_LIBRARY' });
  });

  it('refuses names that clash, adding none of the library', () => {
    assert.throws(() => pool.load(libs.clash), { code: 'ERR_KERNEL_EXISTS', message: /'sha256'/ });
    assert.ok(!pool.kernels.includes('clash.fine'));
    pool.load(libs.example);
    assert.throws(() => pool.load(libs.example), { code: 'ERR_KERNEL_EXISTS', message: /'upper'/ });
  });

  it('never resolves with memory a kernel did not allocate through the pool', async () => {
    pool.load(libs.misbehaving);
    // 16 bytes asked for, 1 MiB claimed: an error, not 1 MiB of the heap.
    await assert.rejects(pool.run('bad.overlong'), {
      code: 'ERR_KERNEL_INVALID_OUTPUT', message: /1048576.*16 bytes/,
    });
    // A pointer of the kernel's own: neither read nor freed.
    await assert.rejects(pool.run('bad.foreign'), { code: 'ERR_KERNEL_INVALID_OUTPUT', message: /nw_output/ });
    // Reporting less than it asked for is fine.
    assert.strictEqual((await pool.run('bad.shorter')).toString(), 'short');
    assert.strictEqual(pool.stats.failed, 2);
    // Still healthy, and again (the failures freed what they had).
    for (let i = 0; i < 100; i++) {
      await assert.rejects(pool.run('bad.overlong'), { code: 'ERR_KERNEL_INVALID_OUTPUT' });
    }
    assert.strictEqual((await pool.run('sha256', 'abc')).length, 32);
  });

  describe('a kernel that ignores cancellation, in a worker that terminates', () => {
    const { Worker } = require('worker_threads');
    const threads = () => Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
    // A worker that starts `kernel` on `input` in a pool of its own and says
    // so; resolves with the worker once the kernel has had time to start.
    async function startWorker(kernel, input) {
      const w = new Worker(`
        const { parentPort, workerData } = require('worker_threads');
        const { ThreadPool } = require(workerData.root);
        const pool = new ThreadPool({ threads: 1 });
        pool.load(workerData.lib);
        pool.run(workerData.kernel, workerData.input);
        setTimeout(() => parentPort.postMessage('started'), 50);
      `, { eval: true, workerData: { root, lib: libs.misbehaving, kernel, input } });
      await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
      return w;
    }

    it('terminate() settles at once; the kernel runs on, then its thread goes', async () => {
      const before = threads();
      const w = await startWorker('bad.stubborn', new Float64Array([1500]));
      const t0 = Date.now();
      assert.strictEqual(await w.terminate(), 1);
      const took = Date.now() - t0;
      assert.ok(took < 1000, `terminate took ${took} ms`);
      // The kernel's thread lives until the kernel returns (1.5 s after it
      // started), then exits with the worker's others.
      const deadline = Date.now() + 10000;
      while (threads() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.strictEqual(threads(), before);
      assert.strictEqual(await pool.run('noop'), undefined);
    });

    it('terminate() waits for a kernel that works in place on a SharedArrayBuffer', async () => {
      const sab = new SharedArrayBuffer(16);
      new Float64Array(sab, 0, 1)[0] = 400;
      const w = await startWorker('bad.stubbornInPlace', new Uint8Array(sab));
      await w.terminate();
      // The kernel finished (its last write landed) before the worker went.
      assert.strictEqual(new Uint8Array(sab)[15], 1);
    });
  });

  it('validates the path argument', async () => {
    assert.throws(() => pool.load(), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => pool.load(42), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => pool.load('a\0b'), { code: 'ERR_INVALID_ARG_VALUE' });
    // Still healthy.
    assert.strictEqual(await pool.run('noop'), undefined);
  });
});
