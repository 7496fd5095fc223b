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

function makeNodeError(Base, code, message) {
  const err = new (nodeErrorClass(Base))(message);
  Object.defineProperty(err, kCode, { value: code });
  // The stack is formatted on first access, from the name: give it the
  // code for that moment, as Node's header has it.
  err.name = `${Base.name} [${code}]`;
  // eslint-disable-next-line no-unused-expressions
  err.stack;
  delete err.name;
  err.code = code;
  return err;
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
  ERR_POOL_QUEUE_FULL(max, message = `The thread pool's task queue is full (maxQueue ${max})`) {
    return makeNodeError(Error, 'ERR_POOL_QUEUE_FULL', message);
  },
  // native-workers/pool: piscina's messages, with codes.
  ERR_POOL_TERMINATED() {
    return makeNodeError(Error, 'ERR_POOL_TERMINATED', 'Terminating worker thread');
  },
  ERR_POOL_CLOSE_TIMEOUT() {
    return makeNodeError(Error, 'ERR_POOL_CLOSE_TIMEOUT', 'Close operation timed out');
  },
  ERR_POOL_WORKER_EXITED(code) {
    return makeNodeError(Error, 'ERR_POOL_WORKER_EXITED', `worker exited with code: ${code}`);
  },
  ERR_POOL_NO_FILENAME() {
    return makeNodeError(Error, 'ERR_POOL_NO_FILENAME', 'filename must be provided to run() or in options object');
  },
  // An option or argument of the pool that piscina refuses, in piscina's
  // words: a TypeError (RangeError for conflicting bounds) with Node's code.
  ERR_POOL_INVALID_OPTION(code, message, Base = TypeError) {
    return makeNodeError(Base, code, message);
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
  const err = new Error(`${syscall} ${code}${extra ? ` ${extra}` : ''}`);
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  return err;
}

module.exports = { codes, AbortError, errnoException, makeNodeError, kIsNodeError };
