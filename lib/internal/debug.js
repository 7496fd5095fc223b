'use strict';

// NODE_DEBUG=native-workers logs what every part does;
// NODE_DEBUG=native-workers:<part> (loader, ring, thread_pool,
// child_process, worker_threads, ...) logs one part. Through
// util.debuglog, so the lines go to stderr as Node's own do, and a call
// costs one boolean test when logging is off.

const util = require('util');

let whole = null;

// -> a log function for `part`, with `.enabled`.
function debuglog(part) {
  const own = util.debuglog(`native-workers:${part}`);
  let on = null;
  const log = (...args) => {
    if (on === null) {
      whole = whole || util.debuglog('native-workers');
      on = own.enabled ? own : (whole.enabled ? (fmt, ...rest) => whole(`${part}: ${fmt}`, ...rest) : false);
    }
    if (on) on(...args);
  };
  Object.defineProperty(log, 'enabled', {
    get() {
      whole = whole || util.debuglog('native-workers');
      return own.enabled || whole.enabled;
    },
  });
  return log;
}

module.exports = { debuglog };
