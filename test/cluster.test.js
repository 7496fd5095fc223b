'use strict';

// native-workers/cluster against node:cluster: each scenario of
// fixtures/cluster/scenario.js runs as its own program under both, and what
// its primary saw (events in order, exit codes and signals, replies that
// clients got, error codes) must match. Each run has a deadline and its
// process group is killed after it, so nothing outlives a test.

const assert = require('assert');
const path = require('path');
const { spawn } = require('child_process');

const SCENARIO = path.join(__dirname, 'fixtures', 'cluster', 'scenario.js');

// Run scenario `name` under `impl` ('node' | 'ours'); resolves with the
// primary's JSON line and its exit code. The primary has to exit by itself.
function run(impl, name, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCENARIO, name], {
      env: { ...process.env, NW_CLUSTER: impl, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${impl} ${name}: no exit within 20 s\nstdout: ${out}\nstderr: ${err}`));
    }, 20000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(child);
      const line = out.trim().split('\n').pop();
      let result;
      try {
        result = JSON.parse(line);
      } catch {
        reject(new Error(`${impl} ${name}: exit ${code} ${signal}\nstdout: ${out}\nstderr: ${err}`));
        return;
      }
      resolve({ code, signal, result, stderr: err });
    });
  });
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// Both runs, then compare with `normalize` applied to each result.
async function differential(name, normalize = (r) => r, env = {}) {
  const [node, ours] = await Promise.all([run('node', name, env), run('ours', name, env)]);
  assert.strictEqual(ours.code, 0, ours.stderr);
  assert.strictEqual(node.code, 0, node.stderr);
  assert.deepStrictEqual(normalize(ours.result), normalize(node.result));
  return ours.result;
}

describe('cluster: differential against node:cluster', function () {
  this.timeout(45000);

  it('lifecycle: events in order, fork(env), and the primary exits after cluster.disconnect()', async () => {
    const r = await differential('lifecycle');
    assert.deepStrictEqual(r.log, [
      'cluster:setup:undefined', 'cluster:fork:1', 'cluster:online:1', 'cluster:listening:1',
      'listening:4:null:number', 'reply:hi', 'cluster:disconnect:1',
      'cluster:exit:1:0:null:true:dead', 'disconnected:0:dead',
    ]);
    assert.strictEqual(r.seen.foo, 'bar');
    assert.strictEqual(r.seen.unique, undefined);
  });

  for (const policy of ['rr', 'none']) {
    it(`http servers of two workers on one port (NODE_CLUSTER_SCHED_POLICY=${policy})`, async () => {
      const r = await differential('http', (x) => ({
        ...x,
        // The kernel balances SCHED_NONE: who answered is its choice.
        by: policy === 'rr' ? x.by : null,
      }), { NODE_CLUSTER_SCHED_POLICY: policy });
      assert.strictEqual(r.total, 90);
      assert.strictEqual(r.policy, policy === 'rr' ? 2 : 1);
      if (policy === 'rr') assert.deepStrictEqual(r.by, ['1', '2']);
    });
  }

  for (const policy of ['rr', 'none']) {
    it(`a Unix socket path shared by two workers (${policy})`, async () => {
      const r = await differential('unix', (x) => ({ ...x, by: policy === 'rr' ? x.by : null }),
        { NODE_CLUSTER_SCHED_POLICY: policy });
      assert.strictEqual(r.n, 6);
      assert.strictEqual(r.addr.addressType, -1);
      if (policy === 'rr') assert.deepStrictEqual(r.by, ['1', '2']);
    });
  }

  it('a dgram socket bound in a worker is shared through the primary', async () => {
    const r = await differential('dgram');
    assert.strictEqual(r.reply, 'pong:ping');
  });

  it('a worker that disconnects itself exits with exitedAfterDisconnect', async () => {
    const r = await differential('selfDisconnect');
    assert.deepStrictEqual(r.log, ['cluster:disconnect:1', 'cluster:exit:1:0:null:true:dead']);
  });

  for (const policy of ['rr', 'none']) {
    it(`listen() on a port the primary holds fails in the worker as Node's (${policy}), and disconnect after it`, async () => {
      const r = await differential('addrInUse', undefined, { NODE_CLUSTER_SCHED_POLICY: policy });
      assert.deepStrictEqual(r.err, { code: 'EADDRINUSE', syscall: 'bind', errno: -98, port: true });
    });
  }

  it('a crashed worker reports its exit code, and a new one serves', async () => {
    const r = await differential('respawn');
    assert.ok(r.log.includes('cluster:exit:1:3:null:false:dead'));
    assert.ok(r.log.includes('served:worker 2'));
  });

  it('disconnect() with a connection open waits for it, and sets exitedAfterDisconnect', async () => {
    const r = await differential('disconnectOpen');
    assert.deepStrictEqual(r.log.slice(0, 2), ['after-disconnect-call:true:true:0', 'still-connected:true']);
  });

  it('messages both ways, and a socket handle sent to a worker', async () => {
    const r = await differential('messages');
    assert.strictEqual(r.log[0], 'reply:worker 1 got socket');
  });

  it("setupPrimary(): exec, args, execArgv, cwd, silent, cumulative settings and 'setup'", async () => {
    const r = await differential('settings');
    assert.strictEqual(r.out, 'stdout of the worker\n');
    assert.deepStrictEqual(r.seen.execArgv, ['--no-warnings']);
  });

  it('kill() in the primary and destroy() in the worker', async () => {
    const r = await differential('kill');
    assert.deepStrictEqual(r.log, [
      'cluster:disconnect:1', 'cluster:exit:1:null:SIGTERM:false:dead',
      'cluster:disconnect:2', 'cluster:exit:2:0:null:true:dead',
    ]);
  });

  it('bad input throws the codes Node throws', async () => {
    // The codes and error classes; the wording of lists of types differs.
    const r = await differential('badInput', (x) => x.codes.map((s) => s.split(':').slice(0, 3).join(':')));
    assert.ok(r.codes.some((s) => s.startsWith('inspectPort null:ERR_SOCKET_BAD_PORT:RangeError')));
    assert.ok(r.codes.includes('send after disconnect:ERR_IPC_CHANNEL_CLOSED'));
  });

  it('a bad schedulingPolicy fails the first fork', async () => {
    const r = await differential('badPolicy');
    assert.strictEqual(r.code, 'ERR_INTERNAL_ASSERTION');
  });

  it("serialization: 'advanced' and an explicit stdio in setupPrimary()", async () => {
    const r = await differential('advanced');
    assert.deepStrictEqual(r, { log: [], isMap: true, one: 'one', big: '200000000000000000000', stdin: null, out: 'got one\n' });
  });

  for (const impl of ['node', 'ours']) {
    it(`${impl}: workers of a primary killed with SIGKILL exit by themselves`, async () => {
      const child = spawn(process.execPath, [SCENARIO, 'orphans'], {
        env: { ...process.env, NW_CLUSTER: impl }, stdio: ['ignore', 'pipe', 'inherit'],
      });
      const guard = setTimeout(() => child.kill('SIGKILL'), 20000);
      const { pids } = await new Promise((resolve) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(JSON.parse(out));
        });
      });
      clearTimeout(guard);
      child.kill('SIGKILL');
      const alive = (pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      const deadline = Date.now() + 10000;
      while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const left = pids.filter(alive);
      for (const pid of left) process.kill(pid, 'SIGKILL');
      assert.deepStrictEqual(left, []);
    });
  }

  it('worker code sees neither NODE_UNIQUE_ID nor the package’s variables', async () => {
    const r = await differential('env');
    // The NW_ variables the tests run under (NW_STRESS) reach it, as any
    // variable of the primary's environment does.
    const inherited = Object.keys(process.env).filter((k) => k.startsWith('NW_') && k !== 'NW_CLUSTER');
    assert.deepStrictEqual(r.seen, { unique: false, nw: ['NW_EXTRA', ...inherited].sort(), id: 1, isWorker: true });
  });
});

describe('cluster: the Worker class', () => {
  it('constructs as Node\'s, with or without new, and is an EventEmitter', () => {
    const EventEmitter = require('events');
    const shape = (C) => {
      const a = new C.Worker();
      const b = C.Worker({ id: 3, state: 'online' });
      return [a.exitedAfterDisconnect, a.state, a.id, a.process, b.id, b.state,
        b instanceof C.Worker, b instanceof EventEmitter, Object.keys(a).filter((k) => !k.startsWith('_'))];
    };
    assert.deepStrictEqual(shape(require('../lib/cluster')), shape(require('cluster')));
  });
});

describe('cluster: the example', function () {
  this.timeout(30000);

  it('examples/cluster.js (the README quick start, made to exit) serves from both workers and exits', async () => {
    const { execFile } = require('child_process');
    const out = await new Promise((resolve, reject) => {
      execFile(process.execPath, [path.join(__dirname, '..', 'examples', 'cluster.js')], { timeout: 20000 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const lines = out.trim().split('\n');
    assert.deepStrictEqual(lines.filter((l) => l.startsWith('hello')).sort(),
      ['hello from worker 1', 'hello from worker 1', 'hello from worker 2', 'hello from worker 2']);
    assert.deepStrictEqual(lines.filter((l) => l.startsWith('worker')).sort(),
      ['worker 1 exited with 0', 'worker 2 exited with 0']);
  });
});
