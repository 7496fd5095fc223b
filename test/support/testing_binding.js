'use strict';

// The test-only addon (src/napi/testing.c, its own target in binding.gyp):
// native ring peers, benchmark baselines and the glue's system errors, for
// the tests and benchmarks. The package's own addon does not contain it.
// It is loaded from the same build as the package's (NW_ADDON_DIR).
module.exports = require(require('../../lib/internal/addon_path').addonFile('native_workers_testing.node'));
