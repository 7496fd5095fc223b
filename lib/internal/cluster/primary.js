'use strict';

// native-workers/cluster in the primary: Node 20's cluster module, with
// workers started by native-workers' fork() (posix_spawn and the
// shared-memory channel) and connections handed over by SCM_RIGHTS.
//
// Each worker runs Node's own cluster code unchanged: the primary puts
// NODE_UNIQUE_ID in the worker's environment, Node's bootstrap makes the
// process a cluster worker, and the fork preload attaches the channel and
// says 'online' (lib/internal/ipc/fork_preload.js). From then on a
// listen() or bind() in the worker asks this primary ({ act: 'queryServer' })
// and gets a round-robin server (round_robin.js) or a shared handle
// (shared_handle.js), exactly as from Node's primary.

const EventEmitter = require('events');
const path = require('path');

const { fork: forkProcess } = require('../../child_process');
const { Link } = require('./protocol');
const { RoundRobinHandle } = require('./round_robin');
const { SharedHandle } = require('./shared_handle');
const { Worker, kLink, setBooks } = require('./worker');
const { codes: { ERR_SOCKET_BAD_PORT, ERR_INTERNAL_ASSERTION } } = require('../errors');
const { validatePort } = require('../validators');

const SCHED_NONE = 1;
const SCHED_RR = 2;

const cluster = new EventEmitter();
// Emits 'disconnect' when the last worker is gone (cluster.disconnect's cb).
const intercom = new EventEmitter();
// key -> RoundRobinHandle | SharedHandle
const handles = new Map();

cluster.isWorker = false;
cluster.isMaster = true;
cluster.isPrimary = true;
cluster.Worker = Worker;
cluster.workers = {};
cluster.settings = {};
cluster.SCHED_NONE = SCHED_NONE;
cluster.SCHED_RR = SCHED_RR;

const envPolicy = process.env.NODE_CLUSTER_SCHED_POLICY;
cluster.schedulingPolicy = envPolicy === 'none' ? SCHED_NONE : SCHED_RR;

let lastId = 0;
let initialized = false;
let policy; // cluster.schedulingPolicy as it was at the first setup
let inspectOffset = 1;

cluster.setupPrimary = function setupPrimary(options) {
  const settings = {
    args: process.argv.slice(2),
    exec: process.argv[1],
    execArgv: process.execArgv,
    silent: false,
    ...cluster.settings,
    ...options,
  };
  // V8's profiler writes one log per process only when told a file
  // pattern with the pid in it.
  if (settings.execArgv.some((a) => a.startsWith('--prof')) &&
      !settings.execArgv.some((a) => a.startsWith('--logfile='))) {
    settings.execArgv = [...settings.execArgv, '--logfile=v8-%p.log'];
  }
  cluster.settings = settings;
  if (!initialized) {
    initialized = true;
    policy = cluster.schedulingPolicy;
    if (policy !== SCHED_NONE && policy !== SCHED_RR) {
      throw ERR_INTERNAL_ASSERTION(`Bad cluster.schedulingPolicy: ${policy}`);
    }
    process.on('internalMessage', onPrimaryInternalMessage);
  }
  process.nextTick(() => cluster.emit('setup', settings));
};
cluster.setupMaster = cluster.setupPrimary;

// A debugger attached to this process: attach it to the workers too.
function onPrimaryInternalMessage(message) {
  if (message.cmd !== 'NODE_DEBUG_ENABLED') return;
  for (const worker of Object.values(cluster.workers)) {
    if (worker.state === 'online' || worker.state === 'listening') {
      process._debugProcess(worker.process.pid);
    } else {
      worker.once('online', () => process._debugProcess(worker.process.pid));
    }
  }
}

const INSPECT_FLAG = /--inspect(?:-brk|-port)?|--debug-port/;

// --inspect-port for a new worker when the primary is being inspected:
// settings.inspectPort (a port, or a function returning one), else the
// next port after the primary's.
function inspectPortFor(settings) {
  let port = settings.inspectPort;
  if (typeof port === 'function') {
    port = port();
  } else if (port === undefined) {
    port = process.debugPort + inspectOffset++;
    if (port > 65535) port = port - 65535 + 1024 - 1;
  }
  validatePort(port);
  return port;
}

function spawnWorker(id, env) {
  const settings = cluster.settings;
  const execArgv = [...settings.execArgv];
  if (settings.inspectPort === null) throw ERR_SOCKET_BAD_PORT('Port', null, true);
  if (INSPECT_FLAG.test(settings.execArgv.join(' ')) || INSPECT_FLAG.test(process.env.NODE_OPTIONS || '')) {
    execArgv.push(`--inspect-port=${inspectPortFor(settings)}`);
  }
  return forkProcess(settings.exec, settings.args, {
    cwd: settings.cwd,
    env: { ...process.env, ...env, NODE_UNIQUE_ID: `${id}` },
    serialization: settings.serialization,
    silent: settings.silent,
    windowsHide: settings.windowsHide,
    execArgv,
    stdio: settings.stdio,
    gid: settings.gid,
    uid: settings.uid,
  });
}

// Drop the worker from every server it shared.
function removeHandlesOf(worker) {
  for (const [key, handle] of handles) {
    if (handle.remove(worker)) handles.delete(key);
  }
}

function removeWorker(worker) {
  delete cluster.workers[worker.id];
  if (Object.keys(cluster.workers).length === 0) intercom.emit('disconnect');
}

setBooks({
  forget(worker) {
    removeHandlesOf(worker);
    removeWorker(worker);
  },
});

cluster.fork = function fork(env) {
  cluster.setupPrimary();
  const id = ++lastId;
  const proc = spawnWorker(id, env);
  const worker = new Worker({ id, process: proc });
  const link = new Link(proc);
  worker[kLink] = link;

  worker.on('message', function onMessage(message, handle) {
    cluster.emit('message', this, message, handle);
  });

  proc.once('exit', (code, signal) => {
    // Kept in cluster.workers until both exited and disconnected.
    if (!worker.isConnected()) {
      removeHandlesOf(worker);
      removeWorker(worker);
    }
    worker.exitedAfterDisconnect = !!worker.exitedAfterDisconnect;
    worker.state = 'dead';
    worker.emit('exit', code, signal);
    cluster.emit('exit', worker, code, signal);
  });

  proc.once('disconnect', () => {
    removeHandlesOf(worker);
    // Connections handed to it that it never took go to the others.
    link.abandon();
    if (worker.isDead()) removeWorker(worker);
    worker.exitedAfterDisconnect = !!worker.exitedAfterDisconnect;
    worker.state = 'disconnected';
    worker.emit('disconnect');
    cluster.emit('disconnect', worker);
  });

  proc.on('internalMessage', (message, handle) => {
    link.receive(message, handle, (m) => onWorkerMessage(worker, link, m));
  });
  process.nextTick(() => cluster.emit('fork', worker));
  cluster.workers[id] = worker;
  return worker;
};

cluster.disconnect = function disconnect(cb) {
  const workers = Object.values(cluster.workers);
  if (workers.length === 0) {
    process.nextTick(() => intercom.emit('disconnect'));
  } else {
    for (const worker of workers) {
      if (worker.isConnected()) worker.disconnect();
    }
  }
  if (typeof cb === 'function') intercom.once('disconnect', cb);
};

function onWorkerMessage(worker, link, message) {
  switch (message.act) {
    case 'online':
      worker.state = 'online';
      worker.emit('online');
      cluster.emit('online', worker);
      break;
    case 'queryServer':
      queryServer(worker, link, message);
      break;
    case 'listening': {
      const info = {
        addressType: message.addressType,
        address: message.address,
        port: message.port,
        fd: message.fd,
      };
      worker.state = 'listening';
      worker.emit('listening', info);
      cluster.emit('listening', worker, info);
      break;
    }
    case 'exitedAfterDisconnect':
      worker.exitedAfterDisconnect = true;
      link.send({ ack: message.seq });
      break;
    case 'close': {
      // (The handle may be gone already, with the worker's others.)
      const handle = handles.get(message.key);
      if (handle !== undefined && handle.remove(worker)) handles.delete(message.key);
      break;
    }
    default:
      break;
  }
}

function queryServer(worker, link, message) {
  // A worker on its way out gets no new servers.
  if (worker.exitedAfterDisconnect) return;
  const key = `${message.address}:${message.port}:${message.addressType}:${message.fd}:${message.index}`;
  let handle = handles.get(key);
  if (handle === undefined) {
    let address = message.address;
    // A Unix socket path is limited to about 100 bytes: use the shorter
    // of the absolute and the relative path.
    if (message.port < 0 && typeof address === 'string') {
      const relative = path.relative(process.cwd(), address);
      if (relative.length < address.length) address = relative;
    }
    // Datagrams are not connections: UDP is always shared.
    const udp = message.addressType === 'udp4' || message.addressType === 'udp6';
    handle = policy === SCHED_RR && !udp ?
      new RoundRobinHandle(key, address, message) :
      new SharedHandle(key, address, message);
    handles.set(key, handle);
  }
  // Data of the first server on the key (TLS session ticket keys).
  if (!handle.data) handle.data = message.data;
  handle.add(worker, link, (errno, fields, raw) => {
    const current = handles.get(key);
    const data = current !== undefined ? current.data : handle.data;
    // A failed bind is forgotten, so that another try binds again.
    if (errno && current === handle) handles.delete(key);
    link.send({ errno, key, ack: message.seq, data, ...fields }, raw);
  });
}

module.exports = cluster;
