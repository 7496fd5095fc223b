'use strict';

// Loads the compiled addon once per thread. Each thread (main or worker)
// gets its own instance data in the addon.
module.exports = require(require('./addon_path').addonFile('native_workers.node'));
