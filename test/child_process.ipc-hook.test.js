'use strict';

// The hook through which the fork() channel attaches to a ChildProcess:
// an 'ipc' stdio entry goes to the provider the caller of spawn gives, its
// descriptor lands at that child descriptor number, its environment
// entries reach the child, and 'close' waits for the channel.

const assert = require('assert');
const net = require('net');
const binding = require('../lib/internal/binding');
const internal = require('../lib/internal/child_process');
const ours = require('../lib/child_process');

// ChildProcess.spawn with `provider` for its 'ipc' slot, on options as
// spawn() normalises them.
function spawnWith(provider, file, args, options) {
  const child = new internal.ChildProcess();
  const envPairs = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  child[internal.kSpawnWith]({ file, args: [file, ...args], envPairs, ...options }, provider);
  return child;
}

describe('child_process IPC provider hook', () => {
  it("without a provider, 'ipc' gets Node's protocol; ERR_IPC_ONE_PIPE leaks nothing", async () => {
    const fs = require('fs');
    const before = fs.readdirSync('/proc/self/fd').length;
    assert.throws(() => ours.spawn('true', [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'ipc'] }),
      { code: 'ERR_IPC_ONE_PIPE' });
    assert.strictEqual(fs.readdirSync('/proc/self/fd').length, before);
    const c = ours.spawn('sh', ['-c', 'echo "$NODE_CHANNEL_FD $NODE_CHANNEL_SERIALIZATION_MODE"'],
      { stdio: ['ignore', 'pipe', 'ignore', 'ipc'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    await new Promise((resolve) => c.on('close', resolve));
    assert.strictEqual(out, '3 json\n');
    assert.strictEqual(ours.spawnSync('echo', ['ok']).stdout.toString(), 'ok\n');
  });

  it('places the channel, passes its env, and delays close until it closes', async () => {
    const calls = [];
    const provider = {
      prepare({ index, serialization }) {
        const [parentFd, childFd] = binding.socketpair();
        calls.push(['prepare', index, serialization]);
        return {
          childFd,
          env: [`NODE_CHANNEL_FD=${index}`, `NODE_CHANNEL_SERIALIZATION_MODE=${serialization}`],
          afterSpawn(err) {
            calls.push(['afterSpawn', err]);
            binding.closeFd(childFd);
            if (err) binding.closeFd(parentFd);
          },
          attach(child) {
            calls.push(['attach', typeof child.pid]);
            const sock = new net.Socket({ fd: parentFd, readable: true });
            let got = '';
            sock.on('data', (d) => { got += d; });
            sock.on('close', () => {
              child.channelText = got;
              calls.push(['channel-close']);
              internal.maybeClose(child);
            });
          },
        };
      },
    };
    const c = spawnWith(provider, '/bin/sh', ['-c', 'echo "$NODE_CHANNEL_FD $NODE_CHANNEL_SERIALIZATION_MODE" >&3; echo out'],
      { stdio: ['ignore', 'pipe', 'ignore', 'ipc'], serialization: 'advanced' });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    await new Promise((resolve) => c.on('close', () => { calls.push(['close']); resolve(); }));
    assert.strictEqual(out, 'out\n');
    assert.strictEqual(c.channelText, '3 advanced\n');
    assert.deepStrictEqual(calls.slice(0, 3), [['prepare', 3, 'advanced'], ['afterSpawn', 0], ['attach', 'number']]);
    assert.deepStrictEqual(calls.at(-1), ['close']);
    assert.ok(calls.findIndex((x) => x[0] === 'channel-close') < calls.length - 1);
  });

  it('a failed spawn tells the provider and still emits error then close', async () => {
    let after;
    const provider = {
      prepare() {
        const [parentFd, childFd] = binding.socketpair();
        return {
          childFd,
          afterSpawn(err) { after = err; binding.closeFd(childFd); binding.closeFd(parentFd); },
          attach() { throw new Error('attach must not run'); },
        };
      },
    };
    const c = spawnWith(provider, 'no-such-command-nw', [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] });
    const events = [];
    c.on('error', (e) => events.push(e.code));
    await new Promise((resolve) => c.on('close', (code) => { events.push(code); resolve(); }));
    assert.deepStrictEqual(events, ['ENOENT', -2]);
    assert.strictEqual(after, -2);
  });
});

describe('spawn binding: garbage from JavaScript never crashes', () => {
  it('rejects malformed native options and handles with errors', () => {
    const cases = [
      () => binding.spawn(),
      () => binding.spawn({}, () => {}),
      () => binding.spawn({ file: 'true', args: [], fds: [] }, () => {}),
      () => binding.spawn({ file: 'true', args: ['true'], fds: [-99] }, () => {}),
      () => binding.spawn({ file: 'true', args: ['true'], fds: new Array(5000).fill(0) }, () => {}),
      () => binding.spawn({ file: 'true', args: ['true'], fds: [], uid: -1, helper: '/x' }, () => {}),
      () => binding.spawn({ file: 5, args: ['true'], fds: [] }, () => {}),
      () => binding.spawn({ file: 'true', args: ['true'], fds: [] }, 'not a function'),
      () => binding.spawnSync(5),
      () => binding.spawnSync({ file: 'true', args: ['true'], fds: [], killSignal: 999 }),
      () => binding.spawnSync({ file: 'true', args: ['true'], fds: [binding.spawnConstants.FD_PIPE], input: 5 }),
      () => binding.processKill({}, 1),
      () => binding.processKill(),
      () => binding.processPid(null),
      () => binding.processRef(5),
      () => binding.closeFd(-1),
    ];
    for (const f of cases) assert.throws(f, (e) => typeof e.code === 'string', String(f));
    // A valid handle with a bad signal answers EINVAL, not a crash.
    let exited;
    const h = binding.spawn({ file: '/bin/sleep', args: ['sleep', '5'], fds: [] }, (c, s) => { exited = [c, s]; });
    assert.strictEqual(binding.processKill(h, 99999), -22);
    assert.strictEqual(binding.processKill(h, 9), 0);
    return new Promise((resolve) => {
      const t = setInterval(() => {
        if (!exited) return;
        clearInterval(t);
        assert.deepStrictEqual(exited, [0, 9]);
        assert.strictEqual(binding.processKill(h, 9), -3);
        resolve();
      }, 5);
    });
  });
});
