'use strict';

// Soak runs of native-workers/child_process (NW_STRESS=1, `npm run
// test:stress`): many thousands of spawns with seeded random stdio, output
// checks and kills, while a worker thread runs spawnSync; then no leaked
// descriptor and no zombie.

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { Worker } = require('worker_threads');
const ours = require('../lib/child_process');

const libPath = path.join(__dirname, '..', 'lib', 'child_process.js');

if (process.env.NW_STRESS) {
  describe('child_process stress', function () {
    this.timeout(0);

    it('20,000 seeded random spawns, with a worker running spawnSync alongside', async () => {
      let seed = 12345;
      const rand = (n) => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed % n;
      };
      await new Promise((r) => ours.spawn('true').on('close', r));
      const before = fs.readdirSync('/proc/self/fd').length;
      const w = new Worker(`
        const { parentPort } = require('worker_threads');
        const cp = require(${JSON.stringify(libPath)});
        let n = 0, stop = false;
        parentPort.on('message', () => { stop = true; });
        (function loop() {
          if (stop) { parentPort.postMessage(n); parentPort.close(); return; }
          const r = cp.spawnSync('sh', ['-c', 'echo ' + n]);
          if (r.stdout.toString() !== n + '\\n') throw new Error('sync output ' + n);
          n++;
          setImmediate(loop);
        })();
      `, { eval: true });

      const total = 20000;
      let next = 0;
      async function one(i) {
        const kind = rand(4);
        if (kind === 0) {
          const c = ours.spawn('sh', ['-c', `echo ${i}; echo e${i} >&2`]);
          let out = '';
          let err = '';
          c.stdout.on('data', (d) => { out += d; });
          c.stderr.on('data', (d) => { err += d; });
          const code = await new Promise((r) => c.on('close', r));
          assert.deepStrictEqual([code, out, err], [0, `${i}\n`, `e${i}\n`]);
        } else if (kind === 1) {
          const c = ours.spawn('sleep', ['5'], { stdio: 'ignore' });
          setTimeout(() => c.kill('SIGKILL'), rand(5));
          const sig = await new Promise((r) => c.on('close', (_, s) => r(s)));
          assert.strictEqual(sig, 'SIGKILL');
        } else if (kind === 2) {
          const c = ours.spawn('cat');
          let out = '';
          c.stdout.on('data', (d) => { out += d; });
          c.stdin.end(`in${i}`);
          await new Promise((r) => c.on('close', r));
          assert.strictEqual(out, `in${i}`);
        } else {
          const c = ours.spawn('no-such-command-nw');
          const code = await new Promise((r) => { c.on('error', () => {}); c.on('close', r); });
          assert.strictEqual(code, -2);
        }
      }
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < total) await one(next++);
      }));
      w.postMessage('stop');
      const syncRuns = await new Promise((r) => w.once('message', r));
      await new Promise((r) => w.once('exit', r));
      assert.ok(syncRuns > 0);
      await new Promise((r) => setTimeout(r, 100));
      assert.strictEqual(fs.readdirSync('/proc/self/fd').length, before);
      for (const name of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        let stat;
        try { stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        assert.ok(!(Number(f[1]) === process.pid && f[0] === 'Z'), `zombie ${name}`);
      }
    });
  });
}
