'use strict';

// Where the compiled addon and its helper program are: build/Release of the
// package, or the directory in NW_ADDON_DIR when set (npm run test:asan
// points it at a build with AddressSanitizer; see test/support/asan.js).

const path = require('path');

const dir = process.env.NW_ADDON_DIR
  ? path.resolve(process.env.NW_ADDON_DIR)
  : path.join(__dirname, '..', '..', 'build', 'Release');

// The path of file `name` of the build (native_workers.node, nw_exec_helper).
function addonFile(name) {
  return path.join(dir, name);
}

module.exports = { addonFile };
