'use strict';

// The ChildProcess class and the spawn machinery under
// native-workers/child_process. Shape and behaviour follow Node 20's
// lib/internal/child_process.js; the process itself is started by
// src/core/spawn.c (posix_spawn, so the cost does not grow with the size of
// this process) and watched through a pidfd on the event loop.
//
// IPC hook. An 'ipc' entry in spawn's stdio is handed to the provider
// its caller gives (fork() gives its shared-memory channel); otherwise to
// the default provider of ipc/node_ipc.js, which speaks Node's own IPC
// protocol so that a plain Node child works over it. Contract:
//   provider.prepare({ index, serialization, options }) -> channel, where
//     (`options` are the normalised spawn options, so a provider can tell
//     its own fork() spawns from a user's 'ipc' entry),
//     channel.childFd     a descriptor of this process that becomes
//                         descriptor `index` in the child,
//     channel.env         optional array of 'KEY=value' added to the
//                         child's environment (e.g. NODE_CHANNEL_FD),
//     channel.afterSpawn(err)  optional; called right after the spawn
//                         attempt (err: 0 or a negative errno). The
//                         provider closes its copy of childFd here, and
//                         everything else too when err != 0.
//     channel.attach(child)    called when the child runs, after its stdio
//                         is set up: install send()/disconnect()/channel/
//                         connected on it, and call maybeClose(child) once
//                         the channel has closed, since 'close' waits for
//                         it as Node's does.
//   prepare() may throw; spawn() then closes its own pipes and rethrows.

const EventEmitter = require('events');
const net = require('net');
const os = require('os');

const binding = require('./binding');
const {
  codes: {
    ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_IPC_ONE_PIPE, ERR_IPC_SYNC_FORK,
    ERR_UNKNOWN_SIGNAL,
  },
  errnoException,
} = require('./errors');

// Validators Node's child_process uses that the shared module may lack.
const validatorsLocal = (() => {
  const v = require('./validators');
  return {
    validateObject: v.validateObject,
    validateOneOf: v.validateOneOf,
    validateString: v.validateString,
    validateArray(value, name) {
      if (!Array.isArray(value)) throw ERR_INVALID_ARG_TYPE(name, 'Array', value);
    },
  };
})();

const { FD_CLOSE, FD_DEVNULL, FD_PIPE } = binding.spawnConstants;
const signals = os.constants.signals;
const signalNames = Object.create(null);
for (const name of Object.keys(signals)) {
  if (signalNames[signals[name]] === undefined) signalNames[signals[name]] = name;
}

const HELPER = require('./addon_path').addonFile('nw_exec_helper');

const UV_EACCES = -os.constants.errno.EACCES;
const UV_EAGAIN = -os.constants.errno.EAGAIN;
const UV_EMFILE = -os.constants.errno.EMFILE;
const UV_ENFILE = -os.constants.errno.ENFILE;
const UV_ENOENT = -os.constants.errno.ENOENT;
const UV_ESRCH = -os.constants.errno.ESRCH;
const UV_EINVAL = -os.constants.errno.EINVAL;
const UV_ENOSYS = -os.constants.errno.ENOSYS;

const kNative = Symbol('kNative');
const kSpawnWith = Symbol('kSpawnWith');

let defaultIpcProvider = null;
function nodeIpcProvider() {
  if (defaultIpcProvider === null) {
    // Loaded on first use: it needs maybeClose from this module.
    defaultIpcProvider = require('./ipc/node_ipc').createNodeIpcProvider(ipcSlot);
  }
  return defaultIpcProvider;
}

function convertToValidSignal(signal) {
  if (typeof signal === 'number' && signalNames[signal] !== undefined) return signal;
  if (typeof signal === 'string' && typeof signals[signal.toUpperCase()] === 'number') {
    return signals[signal.toUpperCase()];
  }
  throw ERR_UNKNOWN_SIGNAL(signal);
}

// The process handle: the native external plus the onexit hook.
class ProcessHandle {
  constructor() {
    this[kNative] = null;
    this.pid = undefined;
    this.onexit = null;
  }

  // Returns 0 or a negative errno (Node's ProcessWrap::Spawn contract): the
  // addon throws the system error of 'spawn' when no child started.
  spawn(native) {
    let r;
    try {
      r = binding.spawn(native, (exitCode, termSignal) => {
        this[kNative] = null;
        if (this.onexit) this.onexit(exitCode, termSignal ? signalNames[termSignal] || null : null);
      });
    } catch (err) {
      if (err.syscall === 'spawn' && typeof err.errno === 'number') return err.errno;
      throw err;
    }
    this[kNative] = r;
    this.pid = binding.processPid(r);
    return 0;
  }

  kill(sig) { return this[kNative] ? binding.processKill(this[kNative], sig) : UV_ESRCH; }
  ref() { if (this[kNative]) binding.processRef(this[kNative]); }
  unref() { if (this[kNative]) binding.processUnref(this[kNative]); }
  hasRef() { return this[kNative] ? binding.processHasRef(this[kNative]) : false; }
  // Stops nothing native: the exit is still reaped and delivered (Node
  // closes its handle only after the exit, too).
  close() { this.onexit = null; }
}

function stdioStringToArray(stdio, channel) {
  const options = [];
  switch (stdio) {
    case 'ignore':
    case 'overlapped':
    case 'pipe': options.push(stdio, stdio, stdio); break;
    case 'inherit': options.push(0, 1, 2); break;
    default: throw ERR_INVALID_ARG_VALUE('stdio', stdio);
  }
  if (channel) options.push(channel);
  return options;
}

function getHandleFd(h) {
  if (h && typeof h === 'object' && typeof h.fd === 'number' && h.fd >= 0 &&
      typeof h.readStart === 'function') return h.fd;
  return undefined;
}

// Normalise `stdio` as Node's getValidStdio does; pipes become socketpairs
// whose child end goes to the child. On a throw every descriptor made so
// far is closed.
function getValidStdio(stdio, sync) {
  let ipc;
  let ipcFd;
  if (typeof stdio === 'string') {
    stdio = stdioStringToArray(stdio);
  } else if (!Array.isArray(stdio)) {
    throw ERR_INVALID_ARG_VALUE('stdio', stdio);
  }
  while (stdio.length < 3) stdio.push(undefined);

  const made = [];
  try {
    stdio = stdio.map((s, i) => {
      if (s == null) s = i < 3 ? 'pipe' : 'ignore';
      if (s === 'ignore') return { type: 'ignore' };
      if (s === 'pipe' || s === 'overlapped' || (typeof s === 'number' && s < 0)) {
        if (sync) return { type: 'pipe', readable: i === 0, writable: i !== 0 };
        const fds = binding.socketpair();
        made.push(...fds);
        return { type: 'pipe', readable: i === 0, writable: i !== 0, parentFd: fds[0], childFd: fds[1] };
      }
      if (s === 'ipc') {
        if (sync || ipc !== undefined) {
          if (!sync) throw ERR_IPC_ONE_PIPE();
          throw ERR_IPC_SYNC_FORK();
        }
        ipc = true;
        ipcFd = i;
        return { type: 'pipe', ipc: true };
      }
      if (s === 'inherit') return { type: 'inherit', fd: i };
      if (typeof s === 'number' || typeof s.fd === 'number') {
        return { type: 'fd', fd: typeof s === 'number' ? s : s.fd };
      }
      const fd = getHandleFd(s._handle) ?? getHandleFd(s.handle) ?? getHandleFd(s);
      if (fd !== undefined) return { type: 'wrap', fd, _stdio: s };
      throw ERR_INVALID_ARG_VALUE('stdio', s);
    });
  } catch (err) {
    for (const fd of made) binding.closeFd(fd);
    throw err;
  }
  return { stdio, ipc, ipcFd };
}

function closePipes(stdio, which) {
  for (const s of stdio) {
    if (s.type === 'pipe' && s[which] !== undefined) {
      binding.closeFd(s[which]);
      s[which] = undefined;
    }
  }
}

// The descriptor table handed to the core: child fd i <- fds[i].
function nativeFds(stdio, sync) {
  return stdio.map((s, i) => {
    switch (s.type) {
      case 'ignore': return i < 3 ? FD_DEVNULL : FD_CLOSE;
      case 'pipe': return sync ? FD_PIPE : s.childFd;
      case 'inherit':
      case 'fd':
      case 'wrap': return s.fd;
      default: return FD_CLOSE;
    }
  });
}

// A null prototype: the addon looks up optional fields by name.
function nativeOptions(options, fds) {
  return {
    __proto__: null,
    file: options.file,
    // Node's native side stringifies every argument (a Symbol throws the
    // usual TypeError here).
    args: options.args.map((a) => (typeof a === 'string' ? a : `${a}`)),
    envPairs: options.envPairs,
    cwd: options.cwd == null ? undefined : options.cwd,
    fds,
    detached: !!options.detached,
    uid: options.uid == null ? undefined : options.uid >>> 0,
    gid: options.gid == null ? undefined : options.gid >>> 0,
    helper: options.uid != null || options.gid != null ? HELPER : undefined,
  };
}

function createSocket(fd, readable) {
  return new net.Socket({ fd, readable });
}

// A hook an IPC provider may set on a ChildProcess, run when the child's
// exit is reported, before 'exit' is emitted.
const kBeforeExit = Symbol('kBeforeExit');

// The channel object of the provider contract (above) for a channel made
// in prepare(): `childFd` goes to the child and is closed here once the
// spawn was tried; closeOnFailure() frees the rest when the spawn failed;
// connect(child) installs the IPC surface and returns its transport, whose
// settleBeforeExit() runs when the exit is reported.
function ipcSlot({ childFd, env, closeOnFailure, connect }) {
  let childOpen = true;
  const closeChild = () => {
    if (childOpen) {
      childOpen = false;
      binding.closeFd(childFd); // made by the addon: not an fd Node's fs tracks
    }
  };
  return {
    childFd,
    env,
    afterSpawn(err) {
      closeChild();
      if (err) closeOnFailure();
    },
    attach(child) {
      closeChild();
      child.once('disconnect', () => maybeClose(child));
      const transport = connect(child);
      child[kBeforeExit] = () => transport.settleBeforeExit();
    },
  };
}

function maybeClose(subprocess) {
  subprocess._closesGot++;
  if (subprocess._closesGot === subprocess._closesNeeded) {
    subprocess.emit('close', subprocess.exitCode, subprocess.signalCode);
  }
}

function flushStdio(subprocess) {
  const stdio = subprocess.stdio;
  if (stdio == null) return;
  for (const stream of stdio) {
    if (!stream || !stream.readable || stream._readableState.readableListening) continue;
    stream.resume();
  }
}

function onErrorNT(self, err) { self._handle.onexit(err); }
function onSpawnNT(self) { self.emit('spawn'); }

class ChildProcess extends EventEmitter {
  constructor() {
    super();
    this._closesNeeded = 1;
    this._closesGot = 0;
    this.connected = false;
    this.signalCode = null;
    this.exitCode = null;
    this.killed = false;
    this.spawnfile = null;
    this._handle = new ProcessHandle();
    this._handle.onexit = (exitCode, signalCode) => {
      if (signalCode) this.signalCode = signalCode;
      else this.exitCode = exitCode;
      // An IPC channel whose end the kernel has already seen closed is
      // settled first: the exit comes after the child's descriptors close.
      if (this[kBeforeExit] !== undefined) this[kBeforeExit]();
      if (this.stdin) this.stdin.destroy();
      if (this._handle) this._handle.close();
      this._handle = null;
      if (exitCode < 0) {
        const syscall = this.spawnfile ? `spawn ${this.spawnfile}` : 'spawn';
        const err = errnoException(exitCode, syscall);
        if (this.spawnfile) err.path = this.spawnfile;
        err.spawnargs = this.spawnargs.slice(1);
        this.emit('error', err);
      } else {
        this.emit('exit', this.exitCode, this.signalCode);
      }
      // Streams nobody reads are drained so they reach end of file and
      // 'close' can follow; on the next tick, so a user may still start
      // reading in an 'exit' listener.
      process.nextTick(flushStdio, this);
      maybeClose(this);
    };
  }

  // options: normalised by normalizeSpawnArguments (file, args incl. argv0,
  // envPairs, cwd, stdio, detached, uid, gid, serialization).
  spawn(options) {
    return this[kSpawnWith](options, null);
  }

  // spawn(), with the provider of the 'ipc' slot (null: Node's protocol).
  [kSpawnWith](options, ipcProvider) {
    const { validateObject, validateOneOf, validateString, validateArray } = validatorsLocal;
    validateObject(options, 'options');
    let { stdio, ipc, ipcFd } = getValidStdio(options.stdio || 'pipe', false);
    options.stdio = stdio;
    validateOneOf(options.serialization, 'options.serialization', [undefined, 'json', 'advanced']);
    const serialization = options.serialization || 'json';

    let channel = null;
    try {
      validateString(options.file, 'options.file');
      if (options.args !== undefined) validateArray(options.args, 'options.args');
      if (ipc !== undefined) {
        if (options.envPairs === undefined) options.envPairs = [];
        else validateArray(options.envPairs, 'options.envPairs');
        channel = (ipcProvider || nodeIpcProvider()).prepare({ index: ipcFd, serialization, options });
        stdio[ipcFd].childFd = channel.childFd;
        options.envPairs.push(...(channel.env || []));
      }
    } catch (err) {
      closePipes(stdio, 'parentFd');
      closePipes(stdio, 'childFd');
      throw err;
    }
    this.spawnfile = options.file;
    this.spawnargs = options.args === undefined ? [] : options.args;

    let err;
    try {
      err = this._handle.spawn(nativeOptions(options, nativeFds(stdio, false)));
    } catch (e) {
      closePipes(stdio.filter((s) => !s.ipc), 'childFd');
      closePipes(stdio, 'parentFd');
      if (channel && channel.afterSpawn) channel.afterSpawn(UV_EINVAL);
      throw e;
    }
    closePipes(stdio.filter((s) => !s.ipc), 'childFd');
    if (channel && channel.afterSpawn) channel.afterSpawn(err);

    if (err === UV_EACCES || err === UV_EAGAIN || err === UV_EMFILE ||
        err === UV_ENFILE || err === UV_ENOENT) {
      process.nextTick(onErrorNT, this, err);
      if (err === UV_EMFILE || err === UV_ENFILE) {
        closePipes(stdio, 'parentFd');
        return err;
      }
    } else if (err) {
      closePipes(stdio, 'parentFd');
      this._handle.close();
      this._handle = null;
      throw errnoException(err, 'spawn');
    } else {
      process.nextTick(onSpawnNT, this);
    }

    this.pid = this._handle.pid;

    for (let i = 0; i < stdio.length; i++) {
      const stream = stdio[i];
      if (stream.type === 'ignore') continue;
      if (stream.ipc) {
        if (!err) this._closesNeeded++; // attach() owes a maybeClose()
        continue;
      }
      if (stream.type === 'wrap') {
        // The child now shares the stream's descriptor: stop reading it
        // here so the two do not race for the same data (as Node does).
        const h = stream._stdio._handle || stream._stdio.handle;
        if (h && typeof h.readStop === 'function') {
          h.reading = false;
          h.readStop();
        }
        if (typeof stream._stdio.pause === 'function') stream._stdio.pause();
        continue;
      }
      if (stream.parentFd !== undefined) {
        stream.socket = createSocket(stream.parentFd, i > 0);
        stream.parentFd = undefined;
        if (i > 0) {
          this._closesNeeded++;
          stream.socket.on('close', () => { maybeClose(this); });
        }
      }
    }

    this.stdin = stdio.length >= 1 && stdio[0].socket !== undefined ? stdio[0].socket : null;
    this.stdout = stdio.length >= 2 && stdio[1].socket !== undefined ? stdio[1].socket : null;
    this.stderr = stdio.length >= 3 && stdio[2].socket !== undefined ? stdio[2].socket : null;
    this.stdio = [];
    for (let i = 0; i < stdio.length; i++) {
      this.stdio.push(stdio[i].socket === undefined ? null : stdio[i].socket);
    }

    if (channel && !err) channel.attach(this);
    return err;
  }

  kill(sig) {
    const signal = sig === 0 ? sig : convertToValidSignal(sig === undefined ? 'SIGTERM' : sig);
    if (this._handle) {
      const err = this._handle.kill(signal);
      if (err === 0) {
        this.killed = true;
        return true;
      }
      if (err === UV_ESRCH) {
        // Already gone.
      } else if (err === UV_EINVAL || err === UV_ENOSYS) {
        throw errnoException(err, 'kill');
      } else {
        this.emit('error', errnoException(err, 'kill'));
      }
    }
    return false;
  }

  ref() { if (this._handle) this._handle.ref(); }
  unref() { if (this._handle) this._handle.unref(); }
}

if (typeof Symbol.dispose === 'symbol') {
  // Node 20.5+: `using child = spawn(...)` kills the child at scope exit.
  ChildProcess.prototype[Symbol.dispose] = function dispose() {
    if (!this.killed) this.kill();
  };
}


// The blocking form (Node's internal spawnSync): `options` normalised and
// validated by lib/child_process.js.
function spawnSync(options) {
  const { stdio } = getValidStdio(options.stdio || 'pipe', true);
  const native = nativeOptions(options, nativeFds(stdio, true));
  native.timeout = options.timeout > 0 ? options.timeout : undefined;
  native.killSignal = options.killSignal;
  native.maxBuffer = options.maxBuffer === Infinity ? undefined : options.maxBuffer;
  if (stdio[0] && stdio[0].type === 'pipe' && options.input != null) native.input = options.input;
  const r = binding.spawnSync(native);

  const result = {};
  const failed = r.pid === 0;
  if (r.error) result.error = r.error;
  result.status = failed || r.signal ? null : r.status;
  result.signal = r.signal ? signalNames[r.signal] || null : null;
  result.output = failed ? null : r.output;
  result.pid = r.pid;
  if (result.output && options.encoding && options.encoding !== 'buffer') {
    for (let i = 0; i < result.output.length; i++) {
      if (!result.output[i]) continue;
      result.output[i] = result.output[i].toString(options.encoding);
    }
  }
  result.stdout = result.output && result.output[1];
  result.stderr = result.output && result.output[2];
  if (result.error) {
    result.error = errnoException(result.error, `spawnSync ${options.file}`);
    result.error.path = options.file;
    result.error.spawnargs = options.args.slice(1);
  }
  return result;
}

module.exports = {
  ChildProcess,
  spawnSync,
  kSpawnWith,
  ipcSlot,
  maybeClose,
  convertToValidSignal,
  getValidStdio,
};
