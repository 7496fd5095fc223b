'use strict';

// node:worker_threads as Node made it: its exports as they were when this
// module was first loaded. In a thread of the mirror the bootstrap loads it
// before it points some of node:worker_threads' exports at the mirror's,
// so the mirror's own code keeps reaching Node's originals through here.

const nodeWT = require('worker_threads');

module.exports = Object.freeze({ ...nodeWT });
