'use strict';

// The test-only addon (src/napi/testing.c, its own target in binding.gyp):
// native ring peers, benchmark baselines and the glue's system errors, for
// the tests and benchmarks. The package's own addon does not contain it.
module.exports = require('../../build/Release/native_workers_testing.node');
