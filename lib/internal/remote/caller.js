'use strict';

// RemotePool: the pool's run() / close() / destroy() / stats, with the
// tasks run by the hosts that serve the same name.
//
// A task is published into the name's work-queue stream with its id as
// the message id (JetStream drops a second copy of the same id within its
// duplicate window, so a publish retried after a lost acknowledgement
// stores the task once). Its result comes back to this caller's inbox as a
// request, which the caller answers so the host may acknowledge the task;
// a task run twice (its host died after answering, or its answer was
// lost) gives a second result with the same id, which finds no task
// waiting and is dropped. Only the first result of a task is ever seen.

const crypto = require('crypto');
const { EventEmitter } = require('events');
const { performance } = require('perf_hooks');
const { codes, AbortError, makeNodeError } = require('../errors');
const { createHistogram, summary, record } = require('../pool/histogram');
const {
  client, names, checkServers, checkName, checkMs, connectOptions, consumerOptions, ensureStream, ServerView,
} = require('./common');
const codec = require('./codec');

const { ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_POOL_CLOSED, ERR_POOL_QUEUE_FULL, ERR_POOL_TERMINATED } = codes;

const kCore = Symbol('kCore');
const ACK_RETRY = 2000; // ms until a task the stream did not confirm goes again

function remoteError(code, message) {
  return makeNodeError(Error, code, message);
}

class Task {
  constructor(id, fn, resolve, reject, signal, deadline) {
    this.id = id;
    this.fn = fn;
    this.resolve = resolve;
    this.reject = reject;
    this.signal = signal;
    this.onAbort = null;
    this.deadline = deadline;
    this.timer = null;
    this.seq = 0; // the stream's sequence number, once stored
    this.stored = false; // its payload went to the object store
    this.frame = null; // until the stream has it
    this.sent = 0;
    this.created = performance.now();
    this.done = false;
  }
}

class Core {
  constructor(owner, o) {
    this.owner = owner;
    this.name = o.name;
    this.n = names(o.name);
    this.timeout = o.timeout;
    this.maxQueue = o.maxQueue;
    this.co = o.co;
    this.givenConsumer = o.givenConsumer;
    this.connect = o.connect;
    this.prefix = crypto.randomBytes(6).toString('hex');
    this.next = 0;
    this.tasks = new Map(); // id -> Task
    this.bySeq = new Map(); // stream sequence -> Task
    this.nc = null;
    this.js = null;
    this.jsm = null;
    this.server = new ServerView(this);
    this.inbox = '';
    this.ready = null; // Promise of the connection and the stream
    this.connectError = null;
    this.closed = false;
    this.completed = 0;
    this.failed = 0;
    this.duplicates = 0;
    this.hosts = new Map(); // host id -> results taken from it
    this.runTime = createHistogram();
    this.waitTime = createHistogram();
    this.drainWaiters = [];
    this.unacked = new Map(); // id -> Task published, not yet stored
    this.ackInbox = '';
    this.sweeper = null;
  }

  // The connection is made on first use and kept; a server that is not
  // there yet is waited for (each task up to its own timeout).
  start() {
    if (this.ready === null) {
      this.ready = this.open().catch((err) => {
        this.ready = null;
        throw err;
      });
      this.ready.catch(() => {});
    }
    return this.ready;
  }

  async open() {
    const nats = client();
    let nc;
    // Tried again until it works or the pool closes: the tasks waiting
    // for it end at their own timeouts. Refused credentials end them now.
    for (;;) {
      if (this.closed) throw ERR_POOL_CLOSED();
      try {
        nc = await nats.connect(this.connect);
        break;
      } catch (err) {
        if (err && /AUTH|PERMISSION/i.test(String(err.code))) throw err;
        this.connectError = err;
        await new Promise((r) => setTimeout(r, 250).unref());
      }
    }
    if (this.closed) {
      await nc.close();
      throw ERR_POOL_CLOSED();
    }
    this.nc = nc;
    this.js = nc.jetstream();
    this.jsm = await ensureStream(nc, this.name, this.co, this.givenConsumer);
    this.inbox = `${nats.createInbox()}.r`;
    this.ackInbox = `${nats.createInbox()}.a`;
    nc.subscribe(`${this.ackInbox}.*`, { callback: (err, m) => { if (err === null) this.onPubAck(m); } });
    this.sweeper = setInterval(() => this.sweep(), 500);
    this.sweeper.unref();
    nc.subscribe(this.inbox, { callback: (err, m) => { if (err === null) this.onResult(m); } });
    nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.n.stream}.${this.n.consumer}`, {
      callback: (err, m) => { if (err === null) this.onMaxDeliveries(m); },
    });
    await nc.flush();
    this.watchStatus(nc);
  }

  async watchStatus(nc) {
    for await (const s of nc.status()) this.owner.emit('status', { type: s.type, data: s.data });
  }

  run(task, fn, signal) {
    if (this.closed) return Promise.reject(ERR_POOL_CLOSED());
    if (this.tasks.size >= this.maxQueue) return Promise.reject(ERR_POOL_QUEUE_FULL(this.maxQueue));
    if (signal !== null && signal.aborted) return Promise.reject(abortError(signal.reason));
    let value;
    try {
      value = codec.encodeValue(task);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const id = `${this.prefix}-${(this.next++).toString(36)}`;
      const deadline = this.timeout === Infinity ? 0 : Date.now() + this.timeout;
      const t = new Task(id, fn, resolve, reject, signal, deadline);
      this.tasks.set(id, t);
      if (this.timeout !== Infinity) {
        t.timer = setTimeout(() => this.expire(t), this.timeout);
      }
      if (signal !== null) {
        t.onAbort = () => this.cancel(t, abortError(signal.reason));
        signal.addEventListener('abort', t.onAbort, { once: true });
      }
      this.submit(t, value);
    });
  }

  async submit(t, value) {
    try {
      await this.start();
    } catch (err) {
      if (!t.done) {
        // Only a failure the client will not retry ends up here (a bad
        // URL, refused credentials): waiting longer would not help.
        this.settle(t, false, err);
      }
      return;
    }
    if (t.done) return;
    let frame;
    try {
      if (codec.overhead([t.id, this.inbox, t.fn]) + value.length > this.maxPayload()) {
        await (await this.objectStore()).putBlob({ name: `t.${t.id}` }, value);
        t.stored = true;
        frame = codec.taskFrame(t.id, this.inbox, t.fn, t.deadline, t.signal !== null, null);
      } else {
        frame = codec.taskFrame(t.id, this.inbox, t.fn, t.deadline, t.signal !== null, value);
      }
    } catch (err) {
      this.settle(t, false, err);
      return;
    }
    t.frame = frame;
    this.publish(t);
  }

  // Into the stream, its acknowledgement to this caller's ack inbox under
  // the task's id (one subscription for all, no request per task). A task
  // not acknowledged within a while is published again by sweep(): the
  // message id makes a second copy of a stored task a no-op.
  publish(t) {
    if (this.nc.isClosed()) {
      this.settle(t, false, ERR_POOL_CLOSED());
      return;
    }
    const h = client().headers();
    h.set('Nats-Msg-Id', t.id);
    t.sent = Date.now();
    this.unacked.set(t.id, t);
    this.nc.publish(this.n.subject, t.frame, { reply: `${this.ackInbox}.${t.id}`, headers: h });
  }

  onPubAck(m) {
    const id = m.subject.slice(this.ackInbox.length + 1);
    const t = this.unacked.get(id);
    if (t === undefined) return;
    let seq = 0;
    try {
      if (m.data.length !== 0) {
        const ack = JSON.parse(Buffer.from(m.data).toString());
        if (ack !== null && typeof ack.seq === 'number' && ack.error === undefined) seq = ack.seq;
      }
    } catch {
      // not stored: sweep() publishes it again
    }
    if (seq === 0) return;
    this.unacked.delete(id);
    t.seq = seq;
    t.frame = null;
    if (t.done) this.forget(t);
    else this.bySeq.set(seq, t);
  }

  sweep() {
    if (this.nc === null || this.unacked.size === 0) return;
    const old = Date.now() - ACK_RETRY;
    for (const t of this.unacked.values()) {
      // A task that ended unconfirmed waits a while for its late
      // confirmation, so that its message can still be taken out.
      if (t.sent >= old) continue;
      if (t.done) this.unacked.delete(t.id);
      else this.publish(t);
    }
  }

  maxPayload() { return this.server.maxPayload(); }

  objectStore() { return this.server.objectStore(); }

  async onResult(m) {
    let f;
    try {
      f = codec.readFrame(m.data);
      if (f.kind === codec.KIND_TASK) throw new Error('not a result');
    } catch {
      return; // not ours to read; the host's request times out
    }
    const t = this.tasks.get(f.id);
    if (t === undefined) {
      this.duplicates++;
      if (m.reply) m.respond();
      if (f.stored) this.objectStore().then((s) => s.delete(`r.${f.id}`)).catch(() => {});
      return;
    }
    let value;
    let ok = f.kind === codec.KIND_RESULT;
    try {
      let body = f.body;
      if (f.stored) {
        const store = await this.objectStore();
        const blob = await store.getBlob(`r.${f.id}`);
        if (blob === null) throw new Error('result payload missing');
        body = Buffer.from(blob.buffer, blob.byteOffset, blob.length);
        store.delete(`r.${f.id}`).catch(() => {});
      }
      value = codec.decodeValue(body);
    } catch (err) {
      // Not answered: the host keeps the task and it runs again.
      return;
    }
    if (m.reply) m.respond();
    if (t.done) return;
    if (!ok) value = codec.errorFrom(value, f.id, f.host);
    this.hosts.set(f.host, (this.hosts.get(f.host) || 0) + 1);
    const total = performance.now() - t.created;
    record(this.runTime, f.runTime);
    record(this.waitTime, Math.max(0, total - f.runTime));
    this.settle(t, ok, value);
  }

  onMaxDeliveries(m) {
    let seq;
    try {
      seq = JSON.parse(Buffer.from(m.data).toString()).stream_seq;
    } catch {
      return;
    }
    const t = this.bySeq.get(seq);
    if (t === undefined) return;
    const err = remoteError('ERR_REMOTE_MAX_DELIVER',
      `Task ${t.id}${t.fn ? ` (${t.fn})` : ''} of '${this.name}' was handed to hosts ${this.co.maxDeliver} times ` +
      'without a result (maxDeliver): each attempt lost its host');
    err.taskId = t.id;
    this.settle(t, false, err);
  }

  expire(t) {
    const err = remoteError(this.nc === null ? 'ERR_REMOTE_UNREACHABLE' : 'ERR_REMOTE_TIMEOUT', this.nc === null
      ? `No NATS server reachable at ${this.connect.servers.join(', ')} within ${this.timeout} ms`
      : `Task ${t.id} of '${this.name}' got no result within ${this.timeout} ms` +
        (t.seq === 0 ? ' (it was never stored: is JetStream up?)' : ' (is a host serving it?)'));
    err.taskId = t.id;
    if (this.nc === null && this.connectError !== null) err.cause = this.connectError;
    this.cancel(t, err);
  }

  // The task ends here with `err`: it is taken out of the stream if still
  // there, and a host running it is told to stop.
  cancel(t, err) {
    if (t.done) return;
    this.settle(t, false, err);
    if (this.nc !== null && !this.nc.isClosed()) {
      this.nc.publish(this.n.abort, t.id);
    }
  }

  settle(t, ok, value) {
    if (t.done) return;
    t.done = true;
    this.tasks.delete(t.id);
    if (t.timer !== null) clearTimeout(t.timer);
    if (t.onAbort !== null) t.signal.removeEventListener('abort', t.onAbort);
    if (ok) this.completed++; else this.failed++;
    if (!ok && t.seq !== 0) this.forget(t);
    else if (t.seq !== 0) this.bySeq.delete(t.seq);
    if (t.stored) this.objectStore().then((s) => s.delete(`t.${t.id}`)).catch(() => {});
    if (ok) t.resolve(value); else t.reject(value);
    if (this.tasks.size === 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const r of w) r();
      this.owner.emit('drain');
    }
  }

  // A task that ended without a result: its message goes from the stream
  // (a queued task so never runs).
  forget(t) {
    this.bySeq.delete(t.seq);
    if (this.jsm !== null && !this.nc.isClosed()) this.jsm.streams.deleteMessage(this.n.stream, t.seq, false).catch(() => {});
  }

  async close() {
    this.closed = true;
    if (this.tasks.size > 0) await new Promise((r) => this.drainWaiters.push(r));
    await this.shutdown();
  }

  async destroy() {
    this.closed = true;
    for (const t of [...this.tasks.values()]) this.cancel(t, ERR_POOL_TERMINATED());
    await this.shutdown();
  }

  async shutdown() {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    if (this.ready !== null) await this.ready.catch(() => {});
    if (this.nc !== null && !this.nc.isClosed()) {
      await this.nc.flush().catch(() => {});
      await this.nc.drain().catch(() => {});
    }
  }

  get stats() {
    return {
      completed: this.completed,
      failed: this.failed,
      queueSize: this.tasks.size,
      duplicates: this.duplicates,
      hosts: Object.fromEntries(this.hosts),
    };
  }
}

function abortError(reason) {
  return new AbortError('The task has been aborted', { cause: reason });
}

class RemotePool extends EventEmitter {
  constructor(options) {
    super();
    if (options === null || typeof options !== 'object') throw ERR_INVALID_ARG_TYPE('options', 'Object', options);
    const o = { __proto__: null, ...options };
    const servers = checkServers(o.servers);
    const name = checkName(o.name);
    const timeout = checkMs(o, 'timeout', 60000, 1);
    const maxQueue = checkMs(o, 'maxQueue', Infinity, 0);
    const co = consumerOptions(o);
    const connect = connectOptions(o, servers, {
      maxReconnectAttempts: -1, reconnectTimeWait: 250,
      name: `native-workers caller ${name}`,
    });
    client(); // fail now, not on the first run(), when the client is missing
    this[kCore] = new Core(this, {
      name, timeout, maxQueue, co, connect, givenConsumer: o.ackWait !== undefined || o.maxDeliver !== undefined,
    });
  }

  run(task, options = undefined) {
    const core = this[kCore];
    let fn = '';
    let signal = null;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') return Promise.reject(ERR_INVALID_ARG_TYPE('options', 'Object', options));
      const o = { __proto__: null, ...options };
      if (o.name != null) {
        if (typeof o.name !== 'string') return Promise.reject(ERR_INVALID_ARG_TYPE('options.name', 'string', o.name));
        fn = o.name;
      }
      if (o.signal != null) {
        if (typeof o.signal !== 'object' || typeof o.signal.addEventListener !== 'function') {
          return Promise.reject(ERR_INVALID_ARG_TYPE('options.signal', 'AbortSignal', o.signal));
        }
        signal = o.signal;
      }
      if (o.filename != null) {
        return Promise.reject(ERR_INVALID_ARG_VALUE('options.filename', o.filename,
          'cannot be chosen by a caller: each host runs its own filename'));
      }
      if (o.transferList !== undefined && !Array.isArray(o.transferList)) {
        return Promise.reject(ERR_INVALID_ARG_TYPE('options.transferList', 'Array', o.transferList));
      }
      // A transfer list means nothing across hosts: the bytes are copied.
    }
    return core.run(task, fn, signal);
  }

  close() { return this[kCore].close(); }

  destroy() { return this[kCore].destroy(); }

  [Symbol.asyncDispose]() { return this.close(); }

  get name() { return this[kCore].name; }

  get completed() { return this[kCore].completed; }

  get queueSize() { return this[kCore].tasks.size; }

  get stats() { return this[kCore].stats; }

  get histogram() {
    const c = this[kCore];
    return { runTime: summary(c.runTime), waitTime: summary(c.waitTime) };
  }

  get needsDrain() { return this[kCore].tasks.size >= this[kCore].maxQueue; }
}

module.exports = { RemotePool };
