'use strict';

// The channel's addon functions fed garbage from JavaScript: clear errors,
// never a crash; the process is healthy afterwards.

const assert = require('assert');
const fs = require('fs');
const binding = require('../lib/internal/binding');

describe('channel binding: garbage in, errors out', () => {
  it('rejects bad arguments with stable codes', () => {
    const notHandle = [undefined, null, 1, 'x', {}, [], () => {}, Buffer.alloc(8)];
    for (const fn of ['channelInfo', 'channelStart', 'channelRef', 'channelKick',
      'channelSendFd', 'channelTakeFd', 'channelClose', 'channelSameCpu']) {
      for (const v of notHandle) {
        assert.throws(() => binding[fn](v, () => {}), { code: 'ERR_INVALID_ARG_TYPE' }, `${fn}(${String(v)})`);
      }
    }
    for (const cap of ['x', null, {}]) {
      assert.throws(() => binding.channelCreate(cap), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    for (const cap of [0, -5, 2 ** 31 - 1]) {
      assert.throws(() => binding.channelCreate(cap), { code: 'EINVAL' });
    }
    assert.throws(() => binding.channelOpen(), { code: 'ERR_MISSING_ARGS' });
    assert.throws(() => binding.channelOpen('a', 'b', 'c'), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => binding.channelOpen(-1, -1, 1), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => binding.channelOpen(0, 1, 1), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => binding.channelOpen(0, 1, 7), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.strictEqual(binding.channelRecvFd(-1, 0), -9); // EBADF
    assert.throws(() => binding.channelRecvFd(), { code: 'ERR_MISSING_ARGS' });
  });

  it('a real channel: wrong descriptors, closed handles, and both ends in one process', () => {
    const { handle, sock } = binding.channelCreate(4096);
    assert.throws(() => binding.channelStart(handle, 'not a function'), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => binding.channelSendFd(handle, 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => binding.channelSendFd(handle, -1), { code: 'EBADF' });
    // A memfd that is not a channel's, and a socket that is not a stream.
    assert.throws(() => binding.channelOpen(sock, sock, 1), { code: 'ERR_INVALID_ARG_VALUE' });
    const memfd = binding.channelRecvFd(sock, 1000);
    assert.ok(memfd >= 0);
    const peer = binding.channelOpen(memfd, sock, 1);
    fs.closeSync(memfd);
    const a = binding.channelInfo(handle);
    const b = binding.channelInfo(peer);
    assert.strictEqual(a.side, 0);
    assert.strictEqual(b.side, 1);
    assert.strictEqual(a.buffer.byteLength, b.buffer.byteLength);
    // The two views share memory.
    new Uint8Array(a.buffer)[a.ring0 + 400] = 77;
    assert.strictEqual(new Uint8Array(b.buffer)[b.ring0 + 400], 77);
    assert.strictEqual(binding.channelTakeFd(peer), -11); // EAGAIN: none sent
    // The cpu words: unknown (0) until a side asks; then 1 + its CPU, and
    // the answer is whether the two words match (this thread may move
    // between the calls, so only that equivalence is fixed).
    const words = new Int32Array(a.buffer, 0, 1024);
    const [cpu0, cpu1] = [binding.CHANNEL_CPU0, binding.CHANNEL_CPU1];
    assert.strictEqual(words[cpu0], 0);
    assert.strictEqual(words[cpu1], 0);
    assert.strictEqual(binding.channelSameCpu(handle), false); // peer unknown
    assert.ok(words[cpu0] >= 1);
    assert.strictEqual(binding.channelSameCpu(peer), words[cpu0] === words[cpu1]);
    assert.ok(words[cpu1] >= 1);
    for (const junk of [0, -1, 0x7fffffff, words[cpu0] + 1]) {
      words[cpu1] = junk;
      assert.strictEqual(binding.channelSameCpu(handle), words[cpu0] === junk);
      assert.strictEqual(words[cpu1], junk); // the peer's word is only read
    }
    binding.channelClose(handle);
    binding.channelClose(handle); // idempotent
    assert.throws(() => binding.channelInfo(handle), { code: 'ERR_IPC_CHANNEL_CLOSED' });
    assert.throws(() => binding.channelSendFd(handle, 1), { code: 'ERR_IPC_CHANNEL_CLOSED' });
    assert.strictEqual(binding.channelKick(handle), -32); // EPIPE
    assert.strictEqual(binding.channelTakeFd(peer), -32); // peer gone
    assert.strictEqual(binding.channelSameCpu(handle), false); // closed
    assert.strictEqual(binding.channelYield(), undefined);
    const cpus = binding.channelCpuCount();
    assert.ok(Number.isInteger(cpus) && cpus >= 1, String(cpus));
    binding.channelClose(peer);
    // Views taken before the close stay valid memory.
    assert.strictEqual(new Uint8Array(b.buffer)[b.ring0 + 400], 77);
  });
});
