'use strict';

// Loads the compiled addon once per thread. Each thread (main or worker)
// gets its own instance data in the addon.
//
// When there is no addon for this machine, or the one there cannot be
// loaded, the error says why and what to do, with a stable code:
//   ERR_NATIVE_WORKERS_NOT_BUILT   no build and no prebuilt binary matches
//   ERR_NATIVE_WORKERS_LOAD_FAILED a binary is there but dlopen refused it
//                                  (err.cause holds the loader's error)

const path = require('path');
const { locate, target } = require('./locate');
const { codes } = require('./errors');
const debug = require('./debug').debuglog('loader');

const ROOT = path.join(__dirname, '..', '..');

function load() {
  const where = locate(ROOT);
  if (where === null) throw codes.ERR_NATIVE_WORKERS_NOT_BUILT(target(), ROOT);
  try {
    return { addon: require(where.addon), where };
  } catch (err) {
    throw codes.ERR_NATIVE_WORKERS_LOAD_FAILED(where.addon, err);
  }
}

const { addon, where } = load();
debug('addon %s (%s), helper %s', where.addon, where.prebuilt ? 'prebuilt' : 'built from source', where.helper);

module.exports = addon;
// The uid/gid helper executable that belongs with this addon.
Object.defineProperty(addon, 'helperPath', { value: where.helper });
