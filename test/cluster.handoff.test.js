'use strict';

// native-workers/cluster where it goes past Node's: a connection handed to
// a worker that dies or refuses it goes to another worker; a worker of the
// cluster uses the package's other parts; and the soak (NW_STRESS=1, `npm
// run test:stress`: 20 000 connections through 2 workers, one killed with
// SIGKILL every 2 000; the default run is 1 000). Each program runs in its
// own process group, killed after it.

const assert = require('assert');
const path = require('path');
const { spawn } = require('child_process');

const HANDOFF = path.join(__dirname, 'fixtures', 'cluster', 'handoff.js');
const STRESS = process.env.NW_STRESS === '1';

function run(args, ms) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HANDOFF, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const kill = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    };
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`${args.join(' ')}: no exit within ${ms} ms\n${out}\n${err}`));
    }, ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      kill();
      try {
        assert.strictEqual(code, 0, err);
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (e) {
        reject(e);
      }
    });
  });
}

describe('cluster: handoff, refusal, mixing, soak', function () {
  this.timeout(STRESS ? 600000 : 60000);

  it('connections handed to a worker that stopped answering go to another when it is killed', async () => {
    const r = await run(['midHandoff'], 30000);
    assert.strictEqual(r.w1, 'SIGKILL');
    assert.deepStrictEqual(r.bodies, Array(8).fill('worker 2'));
  });

  it('a worker at maxConnections refuses, and the connection goes to the other', async () => {
    const r = await run(['refuse'], 30000);
    assert.deepStrictEqual(r.bodies, Array(6).fill('worker 2'));
  });

  it('a cluster worker runs a native-workers Worker thread and forks a native-workers child', async () => {
    const r = await run(['mix'], 30000);
    assert.deepStrictEqual(JSON.parse(r.body), { fromThread: 42, fromChild: { back: 'child' }, id: 1 });
  });

  const count = STRESS ? 20000 : 1000;
  it(`soak: ${count} connections, a worker killed every ${count / 10}: none hangs, no descriptor leaks`, async () => {
    const r = await run(['soak', String(count)], STRESS ? 580000 : 55000);
    assert.strictEqual(r.ok, count);
    assert.strictEqual(r.hung, 0);
    // (A kill waits for the last one's replacement to listen.)
    assert.ok(r.kills >= (STRESS ? 8 : 3), `only ${r.kills} kills`);
    // Only what a killed worker had taken can be reset.
    assert.ok(r.resets <= r.kills * 16, `${r.resets} resets`);
    assert.strictEqual(r.fds1, r.fds0);
  });
});
