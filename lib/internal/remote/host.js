'use strict';

// serve(): a host of native-workers/remote. A local Pool runs the tasks
// that this host pulls from the name's JetStream work-queue stream.
//
// The host asks the durable pull consumer for exactly as many tasks as
// its pool has room for (a pull request per batch of free slots, on one
// inbox), so a busy host holds no tasks that another could run. While a
// task runs the host tells the server it is still working (+WPI every
// half ack wait); if the host dies, the server hands the task to another
// host once the ack wait passes. A result goes to the caller as a request:
// only once the caller has it is the task acknowledged, so a result lost
// to a broken connection means the task runs again, never that it is
// lost. The host never acknowledges before the result is delivered, which
// is why a task may run more than once (at-least-once).

const os = require('os');
const { EventEmitter } = require('events');
const Pool = require('../../pool');
const { codes: { ERR_INVALID_ARG_TYPE } } = require('../errors');
const {
  client, names, checkServers, checkName, checkMs, connectOptions, consumerOptions, ensureStream, ServerView,
} = require('./common');
const codec = require('./codec');

const POOL_KEYS = ['filename', 'runtime', 'minThreads', 'maxThreads', 'idleTimeout', 'concurrentTasksPerWorker',
  'resourceLimits', 'env', 'argv', 'execArgv', 'workerData', 'niceIncrement', 'closeTimeout', 'recordTiming'];
const PULL_EXPIRES = 10000;
const ABORTED_KEPT = 120000; // how long an aborted id is remembered
const CONFIRM_WAIT = 5000; // how long a result waits for its caller's confirmation

class Host extends EventEmitter {
  constructor(o) {
    super();
    this.name = o.name;
    this.n = names(o.name);
    this.id = o.hostId;
    this.co = o.co;
    this.givenConsumer = o.givenConsumer;
    this.pool = o.pool;
    this.capacity = o.capacity;
    this.nc = null;
    this.js = null;
    this.server = new ServerView(this);
    this.inbox = '';
    this.requested = 0; // tasks asked for and not yet come
    this.running = 0; // tasks in the pool
    this.busy = 0; // tasks not yet answered
    this.lastHeard = 0;
    this.closing = false;
    this.closed = null;
    this.tasks = new Map(); // id -> AbortController of a running task
    this.aborted = new Map(); // id -> time aborted
    this.watchdog = null;
    this.confirms = new Map(); // confirm number -> result waiting for its caller
    this.nextConfirm = 0;
    this.confirmInbox = '';
    this.completed = 0;
    this.failed = 0;
    this.redelivered = 0;
  }

  async start(connect) {
    const nats = client();
    this.nc = await nats.connect(connect);
    this.js = this.nc.jetstream();
    await ensureStream(this.nc, this.name, this.co, this.givenConsumer);
    this.inbox = nats.createInbox();
    this.nc.subscribe(this.inbox, { callback: (err, m) => { if (err === null) this.onMessage(m); } });
    this.confirmInbox = nats.createInbox();
    this.nc.subscribe(`${this.confirmInbox}.*`, { callback: (err, m) => { if (err === null) this.onConfirm(m.subject, m); } });
    this.nc.subscribe(this.n.abort, { callback: (err, m) => { if (err === null) this.onAbort(m); } });
    await this.nc.flush();
    this.watchStatus();
    this.watchdog = setInterval(() => this.check(), 1000);
    this.watchdog.unref();
    this.pull();
  }

  async watchStatus() {
    for await (const s of this.nc.status()) {
      if (s.type === 'reconnect') {
        // Pull requests waiting at the old server are gone.
        this.requested = 0;
        ensureStream(this.nc, this.name, this.co, false).catch(() => {}).then(() => this.pull());
      }
    }
  }

  // A pull request that got neither tasks nor its timeout status is lost
  // (a server that restarted): ask again.
  check() {
    if (this.requested > 0 && Date.now() - this.lastHeard > PULL_EXPIRES + 5000) {
      this.requested = 0;
      this.pull();
    }
    const late = Date.now() - CONFIRM_WAIT;
    for (const [n, c] of this.confirms) {
      if (c.sent > late) break;
      this.confirms.delete(n);
      this.unconfirmed(c);
      c.resolve();
    }
    const old = Date.now() - ABORTED_KEPT;
    for (const [id, t] of this.aborted) {
      if (t > old) break;
      this.aborted.delete(id);
    }
  }

  pull() {
    if (this.closing || this.nc.isClosed()) return;
    const room = this.capacity - this.running - this.requested;
    if (room <= 0) return;
    if (this.requested === 0) this.lastHeard = Date.now();
    this.requested += room;
    const req = JSON.stringify({ batch: room, expires: PULL_EXPIRES * 1e6 });
    this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.n.stream}.${this.n.consumer}`, req, { reply: this.inbox });
  }

  onMessage(m) {
    this.lastHeard = Date.now();
    const h = m.headers;
    if (h !== undefined && h.code !== 0 && (m.data.length === 0 || h.code >= 100)) {
      // A status of the pull: 408 the request expired, 409 it was cut
      // short (with what it still had pending), 100 a heartbeat.
      if (h.code === 408 || h.code === 409 || h.code === 404) {
        const left = Number(h.get('Nats-Pending-Messages'));
        this.requested = Number.isFinite(left) && left > 0 && h.code !== 404
          ? Math.max(0, this.requested - left) : 0;
        if (this.requested === 0 || h.code !== 408) setTimeout(() => this.pull(), h.code === 409 ? 100 : 0);
        else this.pull();
      }
      return;
    }
    if (this.requested > 0) this.requested--;
    if (this.closing) {
      // Asked for before close(): hand it straight back to the others.
      m.respond('-NAK');
      return;
    }
    this.running++;
    this.busy++;
    let released = false;
    // The slot is free again as soon as the pool is done with the task:
    // handing its result over goes on without holding it.
    const release = () => {
      if (released) return;
      released = true;
      this.running--;
      this.pull();
    };
    this.runTask(m, release).catch((err) => this.fault(err)).finally(() => {
      release();
      this.busy--;
      if (this.closing && this.busy === 0 && this.closed !== null) this.closed();
    });
  }

  // A failure of the host itself (not of a task): an 'error' event when
  // someone listens, a warning otherwise; the task it hit runs again.
  fault(err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(`native-workers/remote host: ${err && err.stack ? err.stack : err}`);
  }

  onAbort(m) {
    const id = Buffer.from(m.data).toString();
    this.aborted.set(id, Date.now());
    const ac = this.tasks.get(id);
    if (ac !== undefined) ac.abort();
  }

  async runTask(m, release) {
    let f;
    try {
      f = codec.readFrame(m.data);
      if (f.kind !== codec.KIND_TASK) throw new Error('not a task frame');
    } catch {
      m.respond('+TERM'); // nothing can ever run it
      return;
    }
    const delivered = deliveryCount(m.reply);
    if (delivered > 1) this.redelivered++;
    if (this.aborted.has(f.id) || (f.deadline !== 0 && Date.now() > f.deadline)) {
      m.respond('+TERM');
      return;
    }
    const ac = new AbortController();
    this.tasks.set(f.id, ac);
    const beat = setInterval(() => m.respond('+WPI'), Math.max(50, this.co.ackWait / 2));
    let ok = true;
    let value;
    const started = performance.now();
    try {
      let body = f.body;
      if (f.stored) {
        const store = await this.objectStore();
        const blob = await store.getBlob(`t.${f.id}`);
        if (blob === null) throw Object.assign(new Error(`task ${f.id}: its payload is gone from the object store`), { code: 'ERR_REMOTE_PAYLOAD_LOST' });
        body = Buffer.from(blob.buffer, blob.byteOffset, blob.length);
      }
      const task = codec.decodeValue(body);
      // Only a task its caller may abort runs with a signal: the pool
      // gives such tasks a thread of their own.
      const ro = { __proto__: null };
      if (f.fn !== '') ro.name = f.fn;
      if (f.abortable) ro.signal = ac.signal;
      value = await this.pool.run(task, ro);
    } catch (err) {
      ok = false;
      value = err;
    } finally {
      this.tasks.delete(f.id);
    }
    // The answer goes out first (its request is sent before answer()'s
    // first wait), then the pull for the next task.
    const answered = this.answer(m, f, ok, value, performance.now() - started);
    release();
    try {
      await answered;
    } finally {
      // Still working until the task is acknowledged: handing the result
      // over may take a while when the caller is slow.
      clearInterval(beat);
    }
  }

  async answer(m, f, ok, value, runTime) {
    if (this.aborted.has(f.id)) {
      m.respond('+TERM');
      return;
    }
    let bytes;
    try {
      bytes = codec.encodeValue(ok ? value : codec.errorFields(value));
    } catch (err) {
      ok = false;
      bytes = codec.encodeValue(codec.errorFields(err));
    }
    let frame;
    if (codec.overhead([f.id, this.id]) + bytes.length > this.maxPayload()) {
      const store = await this.objectStore();
      await store.putBlob({ name: `r.${f.id}` }, bytes);
      frame = codec.resultFrame(ok, f.id, this.id, runTime, null);
    } else {
      frame = codec.resultFrame(ok, f.id, this.id, runTime, bytes);
    }
    if (ok) this.completed++; else this.failed++;
    // The caller confirms to this host's confirm inbox, under a number of
    // its own (one subscription for all, no request per result).
    const n = this.nextConfirm++;
    await new Promise((resolve) => {
      this.confirms.set(n, { m, f, resolve, sent: Date.now() });
      this.nc.publish(f.reply, frame, { reply: `${this.confirmInbox}.${n}` });
    });
  }

  onConfirm(subject, m) {
    const n = Number(subject.slice(this.confirmInbox.length + 1));
    const c = this.confirms.get(n);
    if (c === undefined) return;
    this.confirms.delete(n);
    // A 503 status: nobody listens on the caller's inbox (it went away).
    if (m.headers !== undefined && m.headers.code === 503) this.unconfirmed(c);
    else c.m.respond('+ACK');
    c.resolve();
  }

  // The caller did not take the result: the task is gone for good once its
  // time is up, else it runs again later.
  unconfirmed(c) {
    if (c.f.deadline !== 0 && Date.now() > c.f.deadline) c.m.respond('+TERM');
    else c.m.respond(`-NAK ${JSON.stringify({ delay: 1e9 })}`);
  }

  maxPayload() { return this.server.maxPayload(); }

  objectStore() { return this.server.objectStore(); }

  get stats() {
    return {
      id: this.id, running: this.running, completed: this.completed, failed: this.failed,
      redelivered: this.redelivered, capacity: this.capacity,
    };
  }

  // Take no new tasks, let the running ones finish and answer, then stop
  // the pool and the connection.
  async close() {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.watchdog);
    if (this.busy > 0) await new Promise((resolve) => { this.closed = resolve; });
    await this.pool.close();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => {});
  }
}

// The delivery count from the ack subject: $JS.ACK.<stream>.<consumer>.
// <delivered>.<sseq>.<cseq>.<ts>.<pending>, or the form with a domain and
// account hash before the stream.
function deliveryCount(reply) {
  if (typeof reply !== 'string') return 1;
  const t = reply.split('.');
  if (t.length === 9) return Number(t[4]);
  if (t.length >= 11) return Number(t[6]);
  return 1;
}

async function serve(options) {
  if (options === null || typeof options !== 'object') throw ERR_INVALID_ARG_TYPE('options', 'Object', options);
  const o = { __proto__: null, ...options };
  const servers = checkServers(o.servers);
  const name = checkName(o.name);
  const co = consumerOptions(o);
  const poolOptions = { __proto__: null };
  for (const k of POOL_KEYS) if (o[k] !== undefined) poolOptions[k] = o[k];
  if (poolOptions.filename == null) throw ERR_INVALID_ARG_TYPE('options.filename', 'string', o.filename);
  if (o.hostId !== undefined && typeof o.hostId !== 'string') throw ERR_INVALID_ARG_TYPE('options.hostId', 'string', o.hostId);
  const connect = connectOptions(o, servers, {
    maxReconnectAttempts: -1, reconnectTimeWait: 250, name: `native-workers host ${name}`,
  });
  const pool = new Pool(poolOptions);
  // By default a host holds four tasks per slot of its pool: enough to hide
  // the round trips to the server, few enough not to hoard.
  const capacity = checkMs(o, 'inflight', 4 * pool.maxThreads * (pool.options.concurrentTasksPerWorker || 1), 1);
  const host = new Host({
    name, co, pool, capacity,
    givenConsumer: o.ackWait !== undefined || o.maxDeliver !== undefined,
    hostId: o.hostId !== undefined ? o.hostId : `${os.hostname()}:${process.pid}`,
  });
  try {
    await host.start(connect);
  } catch (err) {
    await pool.destroy();
    if (host.nc !== null) await host.nc.close().catch(() => {});
    throw err;
  }
  return host;
}

module.exports = { serve, Host };
