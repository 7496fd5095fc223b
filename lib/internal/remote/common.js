'use strict';

// What the hosts and the callers of native-workers/remote share: the NATS
// client (an optional peer dependency, loaded on first use), the names of
// a task name's stream, consumer, object store and subjects, the options
// both sides take, and the stream's setup.

const { codes, makeNodeError } = require('../errors');

const { ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE } = codes;

let nats = null;
function client() {
  if (nats === null) {
    try {
      nats = require('nats');
    } catch (err) {
      const e = makeNodeError(Error, 'ERR_REMOTE_NO_CLIENT',
        "native-workers/remote needs the NATS client: npm install nats@2.29.3");
      e.cause = err;
      throw e;
    }
  }
  return nats;
}

// A task name is one subject token and part of a stream's name.
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

function names(name) {
  return {
    stream: `NW_${name}`,
    consumer: 'hosts',
    subject: `nw.${name}.task`,
    abort: `nw.${name}.abort`,
    bucket: `nw_${name}`,
  };
}

// `servers`: a URL string or an array of them (nats://, tls://, or
// host:port). Returns a fresh array.
function checkServers(servers) {
  if (servers === undefined) return ['nats://127.0.0.1:4222'];
  const list = typeof servers === 'string' ? [servers] : servers;
  if (!Array.isArray(list)) throw ERR_INVALID_ARG_TYPE('options.servers', ['string', 'Array'], servers);
  if (list.length === 0) throw ERR_INVALID_ARG_VALUE('options.servers', servers, 'must name at least one server');
  return list.map((s, i) => {
    if (typeof s !== 'string') throw ERR_INVALID_ARG_TYPE(`options.servers[${i}]`, 'string', s);
    const full = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
    let url;
    try {
      url = new URL(full);
    } catch {
      throw ERR_INVALID_ARG_VALUE(`options.servers[${i}]`, s, 'is not a server URL');
    }
    if (!['nats:', 'tls:'].includes(url.protocol) || url.hostname === '' ||
        (url.pathname !== '' && url.pathname !== '/')) {
      throw ERR_INVALID_ARG_VALUE(`options.servers[${i}]`, s, 'is not a nats:// or tls:// server URL');
    }
    return s;
  });
}

function checkName(name) {
  if (typeof name !== 'string') throw ERR_INVALID_ARG_TYPE('options.name', 'string', name);
  if (!NAME.test(name)) {
    throw ERR_INVALID_ARG_VALUE('options.name', name, 'must be 1 to 64 letters, digits, _ or -');
  }
  return name;
}

function checkMs(o, key, dflt, min = 1) {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw ERR_INVALID_ARG_TYPE(`options.${key}`, 'number', v);
  if (!(v >= min) || (v !== Infinity && !Number.isInteger(v))) {
    throw ERR_OUT_OF_RANGE(`options.${key}`, `an integer >= ${min}`, v);
  }
  return v;
}

// Credentials and TLS go to the client as given: user, pass, token,
// authenticator (nkeys, creds: the client's own authenticators), tls.
const PASSED = ['user', 'pass', 'token', 'authenticator', 'tls', 'name'];
function connectOptions(o, servers, extra) {
  const out = { servers, ...extra };
  if (o.connection !== undefined) {
    if (o.connection === null || typeof o.connection !== 'object') {
      throw ERR_INVALID_ARG_TYPE('options.connection', 'Object', o.connection);
    }
    Object.assign(out, o.connection);
  }
  for (const k of PASSED) {
    if (k !== 'name' && o[k] !== undefined) out[k] = o[k];
  }
  if (out.user !== undefined && typeof out.user !== 'string') throw ERR_INVALID_ARG_TYPE('options.user', 'string', out.user);
  if (out.pass !== undefined && typeof out.pass !== 'string') throw ERR_INVALID_ARG_TYPE('options.pass', 'string', out.pass);
  if (out.token !== undefined && typeof out.token !== 'string') throw ERR_INVALID_ARG_TYPE('options.token', 'string', out.token);
  return out;
}

// The consumer settings both sides may give: how long a host may hold a
// task without a sign of life before it goes to another (ackWait), and
// how many times a task is handed out at most (maxDeliver).
function consumerOptions(o) {
  return {
    ackWait: checkMs(o, 'ackWait', 30000, 100),
    maxDeliver: checkMs(o, 'maxDeliver', 5, 1),
    storage: checkStorage(o.storage),
  };
}

function checkStorage(v) {
  if (v === undefined) return 'file';
  if (v !== 'file' && v !== 'memory') throw ERR_INVALID_ARG_VALUE('options.storage', v, "must be 'file' or 'memory'");
  return v;
}

// Make the stream and its consumer if they are not there (either side may
// come first; adding the same stream twice is not an error), and set the
// consumer's ackWait and maxDeliver when given.
async function ensureStream(nc, name, co, given) {
  const { AckPolicy, RetentionPolicy, StorageType, nanos } = client();
  const n = names(name);
  const jsm = await nc.jetstreamManager();
  try {
    await jsm.streams.info(n.stream);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add({
      name: n.stream,
      subjects: [n.subject],
      retention: RetentionPolicy.Workqueue,
      storage: co.storage === 'memory' ? StorageType.Memory : StorageType.File,
      duplicate_window: nanos(120000),
    });
  }
  const config = {
    durable_name: n.consumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(co.ackWait),
    max_deliver: co.maxDeliver,
    max_ack_pending: -1,
    max_waiting: 4096,
  };
  let info = null;
  try {
    info = await jsm.consumers.info(n.stream, n.consumer);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (info === null) {
    try {
      await jsm.consumers.add(n.stream, config);
    } catch (err) {
      if (!/already (exists|in use)/i.test(String(err.message))) throw err;
    }
  } else if (given && (info.config.ack_wait !== config.ack_wait || info.config.max_deliver !== config.max_deliver)) {
    await jsm.consumers.update(n.stream, n.consumer, { ack_wait: config.ack_wait, max_deliver: config.max_deliver });
  }
  return jsm;
}

function isNotFound(err) {
  return err != null && (err.code === '404' || (err.api_error && err.api_error.code === 404) ||
    /not found/i.test(String(err.message)));
}

// What a host and a caller keep of their server: its max_payload (its info
// is gone while reconnecting, so the last one seen counts) and the name's
// object store for payloads over it, opened on first use. `core` has
// nc, js, n (names()) and co (the queue options).
class ServerView {
  constructor(core) {
    this.core = core;
    this.lastMaxPayload = 1024 * 1024;
    this.store = null;
  }

  maxPayload() {
    const info = this.core.nc.info;
    if (info !== undefined && info !== null) this.lastMaxPayload = info.max_payload;
    return this.lastMaxPayload;
  }

  async objectStore() {
    const c = this.core;
    if (this.store === null) this.store = await c.js.views.os(c.n.bucket, { storage: c.co.storage === 'memory' ? 'memory' : 'file' });
    return this.store;
  }
}

module.exports = {
  client, names, checkServers, checkName, checkMs, connectOptions, consumerOptions, ensureStream, ServerView,
};
