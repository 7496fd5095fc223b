'use strict';

// fork(modulePath[, args][, options]) of native-workers/child_process:
// Node 20's argument handling (lib/child_process.js fork) on the
// posix_spawn-based spawn, with the shared-memory channel of
// lib/internal/ipc/fork_channel.js in place of Node's pipe.
//
// The channel is the IPC provider fork() hands to spawn: the 'ipc' stdio
// slot gets the child's end of the channel's socketpair (the memfd travels
// on it), NW_CHANNEL names the slot to the child, and the child's preload
// (ipc/fork_preload.js, loaded with --require) attaches it.

const path = require('path');
const { fileURLToPath } = require('url');

const binding = require('./binding');
const debug = require('./debug').debuglog('child_process');
const { ipcSlot } = require('./child_process');
const { setupForkChannel } = require('./ipc/fork_channel');
const {
  codes: { ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_CHILD_PROCESS_IPC_REQUIRED },
  makeNodeError,
} = require('./errors');
const { validateObject } = require('./validators');

const PRELOAD = path.join(__dirname, 'ipc', 'fork_preload.js');

// An option of the package's own tests: the channel's rings start at this
// position, as if that many bytes had gone through them.
const kChannelStart = Symbol('kChannelStart');

const provider = {
  // Called by ChildProcess.spawn for the 'ipc' slot `index`.
  prepare({ index, serialization, options }) {
    const { handle, sock } = binding.channelCreate(binding.CHANNEL_DEFAULT_CAPACITY, options[kChannelStart]);
    debug('fork channel: 2 rings of %d bytes in a memfd, %s serialization', binding.CHANNEL_DEFAULT_CAPACITY, serialization);
    return ipcSlot({
      childFd: sock,
      env: [`NW_CHANNEL=${index}:${serialization}`],
      closeOnFailure: () => binding.channelClose(handle),
      connect: (child) => setupForkChannel(child, handle, serialization, { countListeners: false }),
    });
  },
};

function validateArgumentsNullCheck(args, name) {
  for (let i = 0; i < args.length; i++) {
    if (typeof args[i] === 'string' && args[i].includes('\u0000')) {
      throw ERR_INVALID_ARG_VALUE(`${name}[${i}]`, args[i], 'must be a string without null bytes');
    }
  }
}

function getValidatedPath(p, name) {
  if (p instanceof URL || (p && typeof p === 'object' && p.href && p.protocol)) {
    if (p.protocol !== 'file:') throw makeNodeError(TypeError, 'ERR_INVALID_URL_SCHEME', 'The URL must be of scheme file');
    p = fileURLToPath(p);
  } else if (Buffer.isBuffer(p) || p instanceof Uint8Array) {
    p = Buffer.from(p).toString();
  } else if (typeof p !== 'string') {
    throw ERR_INVALID_ARG_TYPE(name, ['string', 'Buffer', 'URL'], p);
  }
  if (p.includes('\u0000')) {
    throw ERR_INVALID_ARG_VALUE(name, p, 'must be a string, Uint8Array, or URL without null bytes');
  }
  return p;
}

function stdioStringToArray(stdio) {
  switch (stdio) {
    case 'ignore':
    case 'overlapped':
    case 'pipe': return [stdio, stdio, stdio, 'ipc'];
    case 'inherit': return [0, 1, 2, 'ipc'];
    default: throw ERR_INVALID_ARG_VALUE('stdio', stdio);
  }
}

// `spawnWith(file, args, options, ipcProvider)`: spawn() with the provider
// of its 'ipc' slot given.
function makeFork(spawnWith) {
  return function fork(modulePath, args, options) {
    modulePath = getValidatedPath(modulePath, 'modulePath');
    if (args == null) {
      args = [];
    } else if (typeof args === 'object' && !Array.isArray(args)) {
      options = args;
      args = [];
    } else if (!Array.isArray(args)) {
      throw ERR_INVALID_ARG_TYPE('args', 'Array', args);
    }
    if (options != null) validateObject(options, 'options');
    options = { __proto__: null, ...options, shell: false };
    options.execPath = options.execPath || process.execPath;
    if (typeof options.execPath === 'string' && options.execPath.includes('\u0000')) {
      throw ERR_INVALID_ARG_VALUE('options.execPath', options.execPath, 'must be a string without null bytes');
    }
    let execArgv = options.execArgv || process.execArgv;
    validateArgumentsNullCheck(execArgv, 'options.execArgv');
    if (execArgv === process.execArgv && process._eval != null) {
      const index = execArgv.lastIndexOf(process._eval);
      if (index > 0) {
        execArgv = execArgv.slice();
        execArgv.splice(index - 1, 2);
      }
    }
    args = [...execArgv, '--require', PRELOAD, modulePath, ...args];
    if (typeof options.stdio === 'string') {
      options.stdio = stdioStringToArray(options.stdio);
    } else if (!Array.isArray(options.stdio)) {
      options.stdio = stdioStringToArray(options.silent ? 'pipe' : 'inherit');
    } else if (!options.stdio.includes('ipc')) {
      throw ERR_CHILD_PROCESS_IPC_REQUIRED('options.stdio');
    }
    // The channel serves fork() only: a plain spawn() with 'ipc' in stdio
    // gets Node's own protocol (ipc/node_ipc.js), since that child has no
    // preload to attach this channel.
    const child = spawnWith(options.execPath, args, options, provider);
    // spawnargs as Node's fork has them: the preload is the package's, not
    // the caller's (spawnargs[0] is the program, so it sits one further).
    const at = execArgv.length + 1;
    const shown = child.spawnargs;
    if (shown[at] === '--require' && shown[at + 1] === PRELOAD) shown.splice(at, 2);
    return child;
  };
}

module.exports = { makeFork, PRELOAD, kChannelStart };
