'use strict';

// native-workers/cluster: Node 20's cluster module on native-workers'
// fork() and descriptor passing.
//
// In the primary this is the package's own primary
// (lib/internal/cluster/primary.js). In a worker it is Node's own cluster
// module: the worker's side is Node's code, unchanged, talking to our
// primary over the fork channel, so worker code needs nothing of this
// package (require('cluster') and require('native-workers/cluster') give
// the same object there).

const nodeCluster = require('cluster');

module.exports = nodeCluster.isWorker ? nodeCluster : require('./internal/cluster/primary');
