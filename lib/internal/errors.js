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

// What a user passed, in Node's words: 'type number (5)', 'an instance of
// Map', 'function f', 'null'.
function received(value) {
  switch (typeof value) {
    case 'undefined': return 'undefined';
    case 'bigint': return `type bigint (${value}n)`;
    case 'number': return `type number (${Object.is(value, -0) ? '-0' : value})`;
    case 'boolean': return `type boolean (${value})`;
    case 'symbol': return `type symbol (${String(value)})`;
    case 'function': return `function ${value.name}`;
    case 'string': {
      const shown = value.length > 28 ? `${value.slice(0, 25)}...` : value;
      return `type string (${shown.includes("'") ? JSON.stringify(shown) : `'${shown}'`})`;
    }
    default:
      if (value === null) return 'null';
      if (value.constructor && 'name' in value.constructor) return `an instance of ${value.constructor.name}`;
      return require('util').inspect(value, { depth: -1 });
  }
}

// The typeof names Node writes in lower case ('Object' reads 'object').
const TYPEOF_NAMES = ['string', 'function', 'number', 'object', 'Function', 'Object', 'boolean', 'bigint', 'symbol'];
const CLASS_NAME = /^([A-Z][a-z0-9]*)+$/;

function listed(items, lead) {
  if (items.length > 2) return `${lead}${items.slice(0, -1).join(', ')}, or ${items[items.length - 1]}`;
  if (items.length === 2) return `${lead}${items[0]} or ${items[1]}`;
  return null;
}

// 'of type string or an instance of Buffer', from ['string', 'Buffer'].
function expectedTypes(expected) {
  const list = Array.isArray(expected) ? expected : [expected];
  const types = [];
  const instances = [];
  const other = [];
  for (const e of list) {
    if (TYPEOF_NAMES.includes(e)) types.push(e.toLowerCase());
    else if (CLASS_NAME.test(e)) instances.push(e);
    else other.push(e);
  }
  if (instances.length > 0 && types.includes('object')) {
    types.splice(types.indexOf('object'), 1);
    instances.push('Object');
  }
  const parts = [];
  if (types.length > 0) parts.push(listed(types, 'one of type ') || `of type ${types[0]}`);
  if (instances.length > 0) parts.push(listed(instances, 'an instance of ') || `an instance of ${instances[0]}`);
  if (other.length > 0) {
    parts.push(listed(other, 'one of ') || `${other[0].toLowerCase() !== other[0] ? 'an ' : ''}${other[0]}`);
  }
  return parts.join(' or ');
}

// 1_099_511_627_776, as Node shows large integers in range errors.
function withSeparators(digits) {
  const sign = digits[0] === '-' ? '-' : '';
  let rest = sign ? digits.slice(1) : digits;
  let out = '';
  for (; rest.length > 3; rest = rest.slice(0, -3)) out = `_${rest.slice(-3)}${out}`;
  return `${sign}${rest}${out}`;
}

const codes = {
  ERR_INVALID_ARG_TYPE(name, expected, actual) {
    const subject = name.endsWith(' argument')
      ? `The ${name}`
      : `The "${name}" ${name.includes('.') ? 'property' : 'argument'}`;
    return makeNodeError(TypeError, 'ERR_INVALID_ARG_TYPE',
      `${subject} must be ${expectedTypes(expected)}. Received ${received(actual)}`);
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
    let shown;
    if (Number.isInteger(value) && Math.abs(value) > 2 ** 32) shown = withSeparators(String(value));
    else if (typeof value === 'bigint') shown = `${value > 2n ** 32n || value < -(2n ** 32n) ? withSeparators(String(value)) : value}n`;
    else shown = require('util').inspect(value);
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
  ERR_CHILD_CLOSED_BEFORE_REPLY() {
    return makeNodeError(Error, 'ERR_CHILD_CLOSED_BEFORE_REPLY', 'Child closed before reply received');
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
  ERR_INVALID_SYNC_FORK_INPUT(shown) {
    return makeNodeError(TypeError, 'ERR_INVALID_SYNC_FORK_INPUT',
      `Asynchronous forks do not support Buffer, TypedArray, DataView or string input: ${shown}`);
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
  ERR_SOCKET_BAD_PORT(name, port, allowZero = true) {
    const op = allowZero ? '>=' : '>';
    return makeNodeError(RangeError, 'ERR_SOCKET_BAD_PORT', `${name} should be ${op} 0 and < 65536. Received ${received(port)}.`);
  },
  ERR_INTERNAL_ASSERTION(message) {
    return makeNodeError(Error, 'ERR_INTERNAL_ASSERTION', message);
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
