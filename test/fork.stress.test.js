'use strict';

// Volume, failure and handle-passing tests of fork()'s channel. The default
// run is a reduced version; NW_STRESS=1 (npm run test:stress) runs the full
// sizes: 1 M small messages each way and 1 GiB in 1 MiB messages each way.

const assert = require('assert');
const crypto = require('crypto');
const dgram = require('dgram');
const net = require('net');
const path = require('path');
const nodeCp = require('child_process');
const ours = require('../lib/child_process');
const binding = require('../lib/internal/binding');
const { kTransport } = require('../lib/internal/ipc/target');

const STRESS = process.env.NW_STRESS === '1';
const ECHO = path.join(__dirname, 'fixtures', 'fork-echo.js');
const STREAM = path.join(__dirname, 'fixtures', 'fork-stream.js');
const STUCK = path.join(__dirname, 'fixtures', 'fork-stuck.js');

function payload(seq, size) {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(seq, 0);
  for (let i = 4; i < size; i += 4096) b[i] = (seq * 31 + i) & 0xff;
  return b;
}
const sum = (b) => crypto.createHash('sha1').update(b).digest('hex');

// Both directions at once: the parent streams `count` messages of `size`
// bytes to the child while the child streams as many back; each side checks
// sequence numbers (and checksums for the large ones).
function stream(count, size) {
  return new Promise((resolve, reject) => {
    const cp = ours.fork(STREAM, [String(count), String(size)],
      { serialization: size > 64 ? 'advanced' : 'json' });
    let expect = 0;
    let bad = 0;
    let childReport = null;
    const check = () => {
      if (childReport && expect === count) {
        cp.disconnect();
        resolve({ received: expect, bad, child: childReport });
      }
    };
    cp.on('error', reject);
    cp.on('exit', (code, sig) => {
      if (!childReport) reject(new Error(`child exited early: ${code} ${sig}`));
    });
    cp.on('message', (m) => {
      if (m.received !== undefined) {
        childReport = m;
        check();
        return;
      }
      if (m.seq !== expect) bad++;
      if (size > 64 && sum(m.data) !== m.sum) bad++;
      expect++;
      check();
    });
    cp.send({ cmd: 'go' });
    let i = 0;
    const pump = () => {
      while (i < count) {
        const b = size > 64 ? payload(i, size) : null;
        const ok = cp.send(b ? { seq: i, data: b, sum: sum(b) } : { seq: i });
        i++;
        if (!ok) {
          setImmediate(pump);
          return;
        }
      }
    };
    pump();
  });
}

describe('fork(): volume', function () {
  this.timeout(STRESS ? 1800000 : 120000);

  it(`${STRESS ? '1 M' : '100 k'} small messages each way, in order`, async () => {
    const n = STRESS ? 1000000 : 100000;
    const r = await stream(n, 16);
    assert.deepStrictEqual(r, { received: n, bad: 0, child: { received: n, bad: 0 } });
  });

  it(`${STRESS ? '1 GiB' : '64 MiB'} each way in 1 MiB messages, checksummed`, async () => {
    const n = STRESS ? 1024 : 64;
    const r = await stream(n, 1 << 20);
    assert.deepStrictEqual(r, { received: n, bad: 0, child: { received: n, bad: 0 } });
  });

  it('a message larger than the ring travels in fragments, intact', async () => {
    const cp = ours.fork(ECHO, [], { serialization: 'advanced' });
    const big = crypto.randomBytes(9 << 20);
    const back = await new Promise((resolve) => {
      cp.on('message', resolve);
      cp.send(big);
    });
    assert.ok(Buffer.from(back).equals(big));
    const json = ours.fork(ECHO);
    const text = 'é'.repeat(3 << 20);
    const back2 = await new Promise((resolve) => {
      json.on('message', resolve);
      json.send({ text });
    });
    assert.strictEqual(back2.text, text);
    cp.disconnect();
    json.disconnect();
  });
});

describe('fork(): failures', function () {
  this.timeout(60000);

  it('a child killed by SIGKILL mid-stream: exit with the signal, disconnect, no hang', async () => {
    const cp = ours.fork(ECHO);
    const events = [];
    let got = 0;
    cp.on('message', () => {
      if (++got === 1000) cp.kill('SIGKILL');
    });
    cp.on('disconnect', () => events.push('disconnect'));
    cp.on('exit', (code, sig) => events.push(['exit', code, sig]));
    await new Promise((resolve) => {
      cp.on('close', (code, sig) => {
        events.push(['close', code, sig]);
        resolve();
      });
      cp.send({ cmd: 'burst', n: 10000000 });
    });
    assert.ok(got >= 1000);
    assert.deepStrictEqual(events.filter((e) => e !== 'disconnect'),
      [['exit', null, 'SIGKILL'], ['close', null, 'SIGKILL']]);
    assert.ok(events.includes('disconnect'));
    assert.strictEqual(cp.connected, false);
  });

  it('a child that never reads: send() reports backpressure, memory stays bounded', async () => {
    const cp = ours.fork(STUCK);
    await new Promise((resolve) => cp.once('message', resolve)); // ready
    cp.send('block');
    await new Promise((resolve) => cp.once('message', resolve)); // blocked
    const chunk = 'x'.repeat(1000);
    let accepted = 0;
    while (cp.send(chunk)) {
      accepted++;
      assert.ok(accepted < 100000, 'send() never reported backpressure');
    }
    // The ring holds a bounded number of them; the rest waits in our queue.
    assert.ok(accepted > 100, `only ${accepted} accepted`);
    const callbacks = [];
    cp.send('queued', (err) => callbacks.push(err && err.code));
    assert.strictEqual(cp.send('more'), false);
    const closed = new Promise((resolve) => cp.on('close', (...a) => resolve(a)));
    cp.kill('SIGKILL');
    assert.deepStrictEqual(await closed, [null, 'SIGKILL']);
    assert.deepStrictEqual(callbacks, ['ERR_IPC_CHANNEL_CLOSED']);
  });

  it('corrupt shared memory: ERR_IPC_CHANNEL_CORRUPT and disconnect, no crash', async () => {
    const cp = ours.fork(ECHO);
    const back = await new Promise((resolve) => { cp.once('message', resolve); cp.send('x'); });
    assert.strictEqual(back, 'x');
    // Forge an impossible record in the ring this side reads, as a broken
    // or hostile peer could.
    const ch = cp[kTransport];
    const r = ch.in;
    r.i32[(r.data + (r.rpos & r.mask)) >> 2] = 0x7ffffff0;
    Atomics.store(r.i32, r.h + binding.RING_WORDS.prodTail, (r.rpos + 8) | 0);
    const events = [];
    const done = new Promise((resolve) => cp.on('disconnect', resolve));
    cp.on('error', (e) => events.push(e.code));
    ch.run();
    await done;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepStrictEqual(events, ['ERR_IPC_CHANNEL_CORRUPT']);
    assert.strictEqual(cp.connected, false);
    const exited = new Promise((resolve) => cp.on('exit', resolve));
    cp.kill();
    await exited;
    // Still healthy: a new channel works.
    const cp2 = ours.fork(ECHO);
    assert.strictEqual(await new Promise((resolve) => { cp2.once('message', resolve); cp2.send('y'); }), 'y');
    const closed = new Promise((resolve) => cp2.on('close', resolve));
    cp2.kill();
    await closed;
  });

  it('no leaked descriptors or zombies after many forks', async function () {
    const n = STRESS ? 1000 : 40;
    // A fork takes ~50-150 ms here: a thousand need more than the suite's minute.
    if (STRESS) this.timeout(900000);
    const fs = require('fs');
    // Let descriptors that earlier tests are still closing settle first.
    const count = () => fs.readdirSync('/proc/self/fd').length;
    let before = count();
    for (let i = 0; i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const now = count();
      if (now === before) break;
      before = now;
    }
    for (let i = 0; i < n; i += 4) {
      await Promise.all([0, 1, 2, 3].map(() => new Promise((resolve) => {
        const cp = ours.fork(ECHO);
        cp.on('message', () => cp.disconnect());
        cp.on('exit', resolve);
        cp.send('x');
      })));
    }
    // Give closed handles a turn of the loop.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.strictEqual(count(), before);
    const children = fs.readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();
    for (const pid of children.split(/\s+/).filter(Boolean)) {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      assert.notStrictEqual(stat.split(') ')[1][0], 'Z', `zombie ${pid}`);
    }
  });
});

describe('fork(): passing handles', function () {
  this.timeout(60000);

  for (const [name, impl] of [['node', nodeCp], ['ours', ours]]) {
    it(`${name}: a TCP server passed to two children, both accept connections`, async () => {
      const server = net.createServer();
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address();
      const kids = [impl.fork(ECHO), impl.fork(ECHO)];
      for (const cp of kids) {
        const ack = new Promise((resolve) => cp.once('message', resolve));
        cp.send({ cmd: 'server' }, server);
        assert.deepStrictEqual(await ack, { gotServer: true });
      }
      // The parent stops accepting; the children's duplicates keep listening.
      await new Promise((resolve) => server.close(resolve));
      const seen = new Set();
      for (let i = 0; i < 400 && seen.size < 2; i++) {
        const pid = await new Promise((resolve, reject) => {
          const c = net.connect(port, '127.0.0.1');
          let d = '';
          c.on('data', (x) => { d += x; });
          c.on('end', () => resolve(Number(d)));
          c.on('error', reject);
        });
        seen.add(pid);
      }
      assert.deepStrictEqual([...seen].sort(), kids.map((k) => k.pid).sort());
      for (const cp of kids) cp.kill();
    });

    it(`${name}: a connected net.Socket and a dgram.Socket reach the child and work`, async () => {
      const cp = impl.fork(ECHO);
      const server = net.createServer((sock) => {
        cp.send({ cmd: 'socket', text: 'hello' }, sock);
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const ack = new Promise((resolve) => cp.once('message', resolve));
      const reply = await new Promise((resolve, reject) => {
        const c = net.connect(server.address().port, '127.0.0.1');
        let d = '';
        c.on('data', (x) => { d += x; });
        c.on('end', () => resolve(d));
        c.on('error', reject);
      });
      assert.strictEqual(reply, 'child hello');
      assert.deepStrictEqual(await ack, { gotSocket: true });
      server.close();

      const udp = dgram.createSocket('udp4');
      await new Promise((resolve) => udp.bind(0, '127.0.0.1', resolve));
      const udpPort = udp.address().port;
      const got = new Promise((resolve) => cp.once('message', resolve));
      cp.send({ cmd: 'dgram' }, udp);
      assert.deepStrictEqual(await got, { gotDgram: 'Socket', type: 'udp4' });
      udp.close();
      const dgramMsg = new Promise((resolve) => cp.once('message', resolve));
      const sender = dgram.createSocket('udp4');
      // Datagrams may be lost in theory: resend until one arrives.
      const iv = setInterval(() => sender.send('ping', udpPort, '127.0.0.1'), 20);
      assert.deepStrictEqual(await dgramMsg, { dgram: 'ping' });
      clearInterval(iv);
      sender.close();
      cp.kill();
    });
  }

  for (const [name, impl] of [['node', nodeCp], ['ours', ours]]) {
    it(`${name}: keepOpen leaves the parent's socket open, both ends can use it`, async () => {
      const cp = impl.fork(ECHO);
      let parentSide;
      const server = net.createServer((sock) => {
        parentSide = sock;
        cp.send({ cmd: 'echo-later' }, sock, { keepOpen: true });
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const client = net.connect(server.address().port, '127.0.0.1');
      const ack = await new Promise((resolve) => cp.once('message', resolve));
      assert.deepStrictEqual(ack, { unknown: 'echo-later' });
      assert.strictEqual(parentSide.destroyed, false);
      // The parent still owns a working descriptor for the connection.
      const data = new Promise((resolve) => client.once('data', resolve));
      parentSide.write('from parent');
      assert.strictEqual(String(await data), 'from parent');
      client.destroy();
      parentSide.destroy();
      server.close();
      cp.kill();
    });
  }

  it('an object that is no handle: ERR_INVALID_HANDLE_TYPE, and the channel still works', async () => {
    const cp = ours.fork(ECHO);
    assert.throws(() => cp.send('x', { fd: 1 }), { code: 'ERR_INVALID_HANDLE_TYPE' });
    assert.throws(() => cp.send('x', new (require('events'))()), { code: 'ERR_INVALID_HANDLE_TYPE' });
    // A server that is not listening has no descriptor: the message goes alone.
    cp.send('alone', net.createServer());
    assert.strictEqual(await new Promise((resolve) => cp.once('message', resolve)), 'alone');
    cp.kill();
  });
});
