'use strict';

// The test-only addon (src/napi/testing.c, its own target in binding.gyp):
// native ring peers, benchmark baselines and the glue's system errors, for
// the tests and benchmarks. The package's own addon does not contain it.
// Its file ends in .node-testing, not .node, so that build/Release holds one
// .node file: the one node-gyp-build and prebuildify take.
const path = require('path');

const testing = { exports: {} };
// From the same build as the package's addon (NW_ADDON_DIR, locate.js).
const dir = process.env.NW_ADDON_DIR
  ? path.resolve(process.env.NW_ADDON_DIR)
  : path.join(__dirname, '..', '..', 'build', 'Release');
process.dlopen(testing, path.join(dir, 'native_workers_testing.node-testing'));
module.exports = testing.exports;
