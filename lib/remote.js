'use strict';

// native-workers/remote: the pool's run() across hosts, on NATS JetStream.
//
//   // on each host
//   const { serve } = require('native-workers/remote');
//   await serve({ servers: 'nats://queue:4222', name: 'resize', filename: '/srv/resize.js' });
//
//   // in the program that has the work
//   const { RemotePool } = require('native-workers/remote');
//   const pool = new RemotePool({ servers: 'nats://queue:4222', name: 'resize' });
//   await pool.run({ width: 640, image });
//
// Needs the NATS client (`npm install nats@2.29.3`, an optional peer
// dependency of this package) and a nats-server with JetStream (-js).

const { serve } = require('./internal/remote/host');
const { RemotePool } = require('./internal/remote/caller');

module.exports = { serve, RemotePool };
