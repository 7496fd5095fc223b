'use strict';

// Where the compiled parts of the package are: the addon and the uid/gid
// helper executable. NW_ADDON_DIR, when set, names the directory of both. A build from source (build/Release, made by
// `npm install` or `npm rebuild` where a compiler is around) wins over the
// prebuilt binaries that ship in prebuilds/<platform>-<arch>/, chosen by
// node-gyp-build for this platform, architecture and libc.
//
// Pure lookups: nothing here loads the addon, so a test can point it at any
// directory.

const fs = require('fs');
const path = require('path');

const ADDON = 'native_workers.node';
const HELPER = 'nw_exec_helper';

// -> { addon, helper, prebuilt } for the package rooted at `root`, or
// null when neither a build nor a matching prebuild is there.
function locate(root) {
  // NW_ADDON_DIR: a build of its own (npm run test:asan points it at one
  // made with AddressSanitizer; see test/support/asan.js).
  if (process.env.NW_ADDON_DIR) {
    const dir = path.resolve(process.env.NW_ADDON_DIR);
    return { addon: path.join(dir, ADDON), helper: path.join(dir, HELPER), prebuilt: false };
  }
  const built = path.join(root, 'build', 'Release', ADDON);
  if (fs.existsSync(built)) {
    return { addon: built, helper: path.join(root, 'build', 'Release', HELPER), prebuilt: false };
  }
  let found;
  try {
    found = require('node-gyp-build').path(root);
  } catch {
    return null;
  }
  // node-gyp-build takes the first *.node of build/Release; only a file in
  // prebuilds/ is ours to take from it (the test addon is not the addon).
  if (!found.startsWith(path.join(root, 'prebuilds') + path.sep)) return null;
  // The helper is linked statically, so one per architecture serves
  // every libc: it sits beside the addon.
  return { addon: found, helper: path.join(path.dirname(found), HELPER), prebuilt: true };
}

// What node-gyp-build looks for on this machine, for messages.
function target() {
  const libc = process.env.LIBC || (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
  return `${process.platform}-${process.arch} (${libc}, Node-API ${process.versions.napi})`;
}

module.exports = { locate, target, ADDON, HELPER };
