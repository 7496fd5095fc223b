'use strict';

// Every error the package throws is made here, with a stable `code` and a
// message in Node's wording, so that user code can branch on `err.code`.

const kIsNodeError = Symbol('kIsNodeError');
const kCode = Symbol('kCode');

// Node's internal errors are instances of a subclass of their base, named
// as the base, whose toString() shows the code: String(err) and the first
// line of err.stack read 'RangeError [ERR_X]: message'. Own properties:
// stack, message, code (enumerable).
const classes = new Map();
function nodeErrorClass(Base) {
  let C = classes.get(Base);
  if (C === undefined) {
    C = ({
      [Base.name]: class extends Base {
        toString() { return `${this.name} [${this[kCode]}]: ${this.message}`; }
      },
    })[Base.name];
    Object.defineProperty(C.prototype, kIsNodeError, { value: true });
    classes.set(Base, C);
  }
  return C;
}

// The package's own JavaScript: frames from here are dropped from the top
// of a stack, so that it starts at the user's call (as Node hides its
// internals behind hideStackFrames).
const LIB_DIR = require('path').join(__dirname, '..') + require('path').sep;
const EXTRA_FRAMES = 16;

// Capture with room for the frames that trimStack drops.
function withRoom(make) {
  const limit = Error.stackTraceLimit;
  const raise = typeof limit === 'number' && Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit').writable;
  if (raise) Error.stackTraceLimit = limit + EXTRA_FRAMES;
  try {
    return make();
  } finally {
    if (raise) Error.stackTraceLimit = limit;
  }
}

// Drop the frames of the package's own files from the top of err.stack,
// keeping at most Error.stackTraceLimit frames. A stack that is all ours
// (an error raised in a callback from the event loop) is kept whole.
function trimStack(err) {
  const stack = err.stack;
  if (typeof stack !== 'string') return err;
  const lines = stack.split('\n');
  const first = lines.findIndex((l) => /^\s+at /.test(l));
  if (first < 0) return err;
  let i = first;
  while (i < lines.length && lines[i].includes(LIB_DIR)) i++;
  if (i === lines.length) return err;
  lines.splice(first, i - first);
  const limit = typeof Error.stackTraceLimit === 'number' ? Error.stackTraceLimit : Infinity;
  if (lines.length - first > limit) lines.length = first + limit;
  err.stack = lines.join('\n');
  return err;
}

function makeNodeError(Base, code, message) {
  const err = withRoom(() => new (nodeErrorClass(Base))(message));
  Object.defineProperty(err, kCode, { value: code });
  // The stack is formatted on first access, from the name: give it the
  // code for that moment, as Node's header has it.
  err.name = `${Base.name} [${code}]`;
  // eslint-disable-next-line no-unused-expressions
  err.stack;
  delete err.name;
  err.code = code;
  return trimStack(err);
}

function describe(value) {
  if (value == null) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    if (value.constructor && value.constructor.name) return ` Received an instance of ${value.constructor.name}`;
    return ' Received an instance of Object';
  }
  let shown = String(value);
  if (typeof value === 'string') {
    if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
    shown = `'${shown}'`;
  } else if (typeof value === 'bigint') {
    shown += 'n';
  }
  return ` Received type ${typeof value} (${shown})`;
}

const codes = {
  ERR_INVALID_ARG_TYPE(name, expected, actual) {
    const what = name.includes('.') ? 'property' : 'argument';
    const list = Array.isArray(expected) ? expected : [expected];
    const exp = list.length > 1
      ? `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`
      : list[0];
    return makeNodeError(TypeError, 'ERR_INVALID_ARG_TYPE',
      `The "${name}" ${what} must be ${/^[A-Z]/.test(exp) ? 'an instance of ' : 'of type '}${exp}.${describe(actual)}`);
  },
  ERR_INVALID_ARG_VALUE(name, value, reason = 'is invalid') {
    let shown;
    try {
      shown = require('util').inspect(value, { depth: 0, breakLength: Infinity });
    } catch {
      // e.g. a view over a detached buffer cannot be inspected
      shown = Object.prototype.toString.call(value);
    }
    if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
    const what = name.includes('.') ? 'property' : 'argument';
    return makeNodeError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${what} '${name}' ${reason}. Received ${shown}`);
  },
  ERR_OUT_OF_RANGE(name, range, value) {
    let shown = String(value);
    if (typeof value === 'bigint') shown += 'n';
    return makeNodeError(RangeError, 'ERR_OUT_OF_RANGE',
      `The value of "${name}" is out of range. It must be ${range}. Received ${shown}`);
  },
  ERR_MISSING_ARGS(...names) {
    return makeNodeError(TypeError, 'ERR_MISSING_ARGS',
      `The ${names.map((n) => `"${n}"`).join(' and ')} argument${names.length > 1 ? 's' : ''} must be specified`);
  },
  ERR_MISSING_TRANSFERABLE_IN_TRANSFER_LIST() {
    return makeNodeError(TypeError, 'ERR_MISSING_TRANSFERABLE_IN_TRANSFER_LIST',
      'Object that needs transfer was found in message but not listed in transferList');
  },
  ERR_CONSTRUCT_CALL_INVALID() {
    return makeNodeError(TypeError, 'ERR_CONSTRUCT_CALL_INVALID', 'Constructor cannot be called');
  },
  ERR_RING_CLOSED() {
    return makeNodeError(Error, 'ERR_RING_CLOSED', 'The ring buffer is closed');
  },
  ERR_RING_CORRUPT(detail) {
    return makeNodeError(Error, 'ERR_RING_CORRUPT', `The ring buffer's shared header is corrupt: ${detail}`);
  },
  ERR_POOL_CLOSED() {
    return makeNodeError(Error, 'ERR_POOL_CLOSED', 'The thread pool is closed');
  },
  ERR_POOL_QUEUE_FULL(max) {
    return makeNodeError(Error, 'ERR_POOL_QUEUE_FULL', `The thread pool's task queue is full (maxQueue ${max})`);
  },
  ERR_CHILD_PROCESS_STDIO_MAXBUFFER(name) {
    return makeNodeError(RangeError, 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER', `${name} maxBuffer length exceeded`);
  },
  ERR_IPC_CHANNEL_CLOSED() {
    return makeNodeError(Error, 'ERR_IPC_CHANNEL_CLOSED', 'Channel closed');
  },
  ERR_IPC_CHANNEL_CORRUPT() {
    return makeNodeError(Error, 'ERR_IPC_CHANNEL_CORRUPT', "The channel's shared memory holds an impossible record");
  },
  ERR_IPC_MESSAGE_TOO_LARGE(max) {
    return makeNodeError(RangeError, 'ERR_IPC_MESSAGE_TOO_LARGE', `An IPC message is larger than ${max} bytes`);
  },
  ERR_IPC_DISCONNECTED() {
    return makeNodeError(Error, 'ERR_IPC_DISCONNECTED', 'IPC channel is already disconnected');
  },
  ERR_INVALID_HANDLE_TYPE() {
    return makeNodeError(TypeError, 'ERR_INVALID_HANDLE_TYPE', 'This handle type cannot be sent');
  },
  ERR_CHILD_PROCESS_IPC_REQUIRED(name) {
    return makeNodeError(Error, 'ERR_CHILD_PROCESS_IPC_REQUIRED',
      `Forked processes must have an IPC channel, missing value 'ipc' in ${name}`);
  },
  ERR_IPC_ONE_PIPE() {
    return makeNodeError(Error, 'ERR_IPC_ONE_PIPE', 'Child process can have only one IPC pipe');
  },
  ERR_IPC_SYNC_FORK() {
    return makeNodeError(Error, 'ERR_IPC_SYNC_FORK', 'IPC cannot be used with synchronous forks');
  },
  ERR_UNKNOWN_SIGNAL(signal) {
    return makeNodeError(TypeError, 'ERR_UNKNOWN_SIGNAL', `Unknown signal: ${signal}`);
  },
  ERR_UNKNOWN_KERNEL(name) {
    return makeNodeError(Error, 'ERR_UNKNOWN_KERNEL', `Unknown kernel: '${name}'`);
  },
  ERR_DLOPEN_FAILED(message) {
    return makeNodeError(Error, 'ERR_DLOPEN_FAILED', message);
  },
  ERR_INVALID_KERNEL_LIBRARY(message) {
    return makeNodeError(Error, 'ERR_INVALID_KERNEL_LIBRARY', `Not a usable kernel library: ${message}`);
  },
  ERR_KERNEL_EXISTS(message) {
    return makeNodeError(Error, 'ERR_KERNEL_EXISTS', message);
  },
  ERR_NATIVE_WORKERS_NOT_BUILT(target, root) {
    return makeNodeError(Error, 'ERR_NATIVE_WORKERS_NOT_BUILT',
      `native-workers has no compiled addon for ${target}: no prebuilt binary matches this ` +
      `machine and it was not built from source (was it installed with --ignore-scripts?). ` +
      `Run \`npm rebuild native-workers\` (needs a C compiler, make and python3), or allow its ` +
      `install script. Looked in ${root}/build/Release and ${root}/prebuilds.`);
  },
  ERR_NATIVE_WORKERS_LOAD_FAILED(file, cause) {
    const why = String(cause && cause.message).split('\n')[0];
    const glibc = /GLIBC_[0-9.]+/.test(why)
      ? ' The prebuilt binaries need glibc 2.34 or newer;' : '';
    const err = makeNodeError(Error, 'ERR_NATIVE_WORKERS_LOAD_FAILED',
      `native-workers could not load its addon ${file}: ${why}.${glibc} ` +
      `Run \`npm rebuild native-workers --build-from-source\` to build it for this machine ` +
      `(needs a C compiler, make and python3).`);
    Object.defineProperty(err, 'cause', { value: cause, configurable: true, writable: true });
    return err;
  },
};

class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    super(message, options);
    this.code = 'ABORT_ERR';
    this.name = 'AbortError';
  }
}

// Turn a negative errno from the addon into a Node-style system error.
function errnoException(errno, syscall, extra) {
  const code = require('util').getSystemErrorName(errno);
  const err = withRoom(() => new Error(`${syscall} ${code}${extra ? ` ${extra}` : ''}`));
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  return trimStack(err);
}

module.exports = { codes, AbortError, errnoException, makeNodeError, kIsNodeError, trimStack };
