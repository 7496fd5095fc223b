'use strict';

// ThreadPool in a few lines: hash and compress off the event loop, sort a
// shared array in place, and run a kernel of your own written in C.
//
//   node thread_pool.js
//
// The C kernel (thread_pool_kernel.c, beside this file) is built first if a
// C compiler is around, against the header the package ships:
//   cc -shared -fPIC -O2 -I node_modules/native-workers/include -o libexample_kernels.so thread_pool_kernel.c

const { execFileSync } = require('child_process');
const os = require('os');
const path = require('path');
const { ThreadPool } = require('native-workers');

(async () => {
  const pool = new ThreadPool({ threads: os.availableParallelism() });

  const digest = await pool.run('sha256', 'hello world');
  console.log('sha256', digest.toString('hex'));

  const gz = await pool.run('gzip', Buffer.alloc(1 << 20, 'abc'));
  console.log('gzip of 1 MiB ->', gz.length, 'bytes; back:', (await pool.run('gunzip', gz)).length);

  const shared = new Float64Array(new SharedArrayBuffer(8 * 5));
  shared.set([3, 1, 4, 1, 5]);
  await pool.run('sort', shared); // in place, no copy
  console.log('sorted in place', Array.from(shared), 'sum', await pool.run('sum', shared));

  const ac = new AbortController();
  const long = pool.run('sleep', 10000, { signal: ac.signal });
  setTimeout(() => ac.abort(), 10);
  await long.catch((err) => console.log('aborted:', err.name));

  const src = path.join(__dirname, 'thread_pool_kernel.c');
  const lib = path.join(__dirname, 'libexample_kernels.so');
  const include = path.join(path.dirname(require.resolve('native-workers/package.json')), 'include');
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O2', `-I${include}`, '-o', lib, src]);
    console.log('loaded', pool.load(lib));
    console.log('upper', (await pool.run('upper', 'native workers')).toString());
  } catch (err) {
    console.log('skipping the C kernel:', err.message);
  }

  console.log(pool.stats);
  await pool.close();
})();
