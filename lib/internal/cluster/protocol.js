'use strict';

// The primary's end of the conversation with Node's own cluster code in a
// worker (lib/internal/cluster/child.js of Node 20): internal messages
// { cmd: 'NODE_CLUSTER', act, seq } one way and replies carrying
// { ack: <seq of the message answered> } the other, on the worker's fork
// channel. A Link is that conversation with one worker process.

const SWALLOW = { swallowErrors: true };

class Link {
  constructor(proc) {
    this.proc = proc;
    this.seq = 0;
    // seq -> callback(reply, handle) for messages that wait for an answer.
    this.waiting = new Map();
  }

  // Send `fields` as a cluster message, with `handle` (a raw libuv handle)
  // if given. `onReply(reply, handle)` hears the answer, or (null) if the
  // channel ends first. False when the channel is already gone (nothing
  // was sent and onReply will not be called).
  send(fields, handle, onReply) {
    const proc = this.proc;
    if (!proc.connected) return false;
    const seq = this.seq++;
    const message = { cmd: 'NODE_CLUSTER', ...fields, seq };
    if (onReply !== undefined) this.waiting.set(seq, onReply);
    // A write that fails means the worker is gone: its channel's end
    // (abandon()) settles what waits, so the error itself is not news.
    if (handle == null) proc.send(message);
    else proc.send(message, handle, SWALLOW);
    return true;
  }

  // An internal message from the worker: an answer goes to whoever waits
  // for it, anything else to onMessage(message, handle).
  receive(message, handle, onMessage) {
    if (message.cmd !== 'NODE_CLUSTER') return;
    if (message.ack !== undefined) {
      const onReply = this.waiting.get(message.ack);
      if (onReply !== undefined) {
        this.waiting.delete(message.ack);
        onReply(message, handle);
        return;
      }
    }
    onMessage(message, handle);
  }

  // The channel has ended, after everything the worker wrote was read:
  // what still waits will never be answered.
  abandon() {
    if (this.waiting.size === 0) return;
    const waiting = this.waiting;
    this.waiting = new Map();
    for (const onReply of waiting.values()) onReply(null, undefined);
  }
}

module.exports = { Link };
