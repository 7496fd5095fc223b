'use strict';
// The small task of benchmark/pool.js: the same file for every pool.
module.exports = (x) => x + 1;
