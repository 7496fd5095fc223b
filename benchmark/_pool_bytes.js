'use strict';
// Takes a transferred 1 MiB buffer, gives its length.
module.exports = (view) => view.byteLength;
