'use strict';

// Loaded with --require in every child that native-workers' fork() starts,
// before the user's module. It attaches the child's end of the channel
// named by NW_CHANNEL ("<socket fd>:<serialization>"; the memfd arrives as
// the first descriptor on that socket), removes the variable and its own
// --require from what user code sees, and installs process.send,
// process.on('message'), process.connected, process.disconnect() and
// 'disconnect' as Node's own fork does.

const ENV = 'NW_CHANNEL';

(function setup() {
  const spec = process.env[ENV];
  delete process.env[ENV];
  const self = __filename;
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    if ((argv[i] === '--require' || argv[i] === '-r') && argv[i + 1] === self) {
      argv.splice(i, 2);
      break;
    }
    if (argv[i] === `--require=${self}`) {
      argv.splice(i, 1);
      break;
    }
  }
  if (typeof spec !== 'string') return;
  const m = /^(\d+):(json|advanced)$/.exec(spec);
  if (m === null) return;
  const binding = require('../binding');
  const { setupForkChannel } = require('./fork_channel');
  const sock = Number(m[1]);
  // The parent queued the memfd on the socket before it started us.
  const memfd = binding.channelRecvFd(sock, 10000);
  if (memfd < 0) return;
  let handle;
  try {
    handle = binding.channelOpen(memfd, sock, 1);
  } finally {
    binding.closeFd(memfd);
  }
  // A child's channel keeps it alive only while someone listens, as Node's.
  setupForkChannel(process, handle, m[2], { countListeners: true });
  announceClusterWorker();
})();

// A worker of native-workers/cluster: its primary put NODE_UNIQUE_ID in the
// environment, so Node's bootstrap has already made this process a worker
// of Node's own cluster module (lib/internal/cluster/child.js), which speaks
// { cmd: 'NODE_CLUSTER' } internal messages over process.send. That ran
// before this preload, when process.send did not exist yet, so its 'online'
// was dropped (it sends nothing while disconnected): say it now, on the
// channel just attached. Everything after it (queryServer, listening,
// newconn, disconnect) goes over this channel as over Node's pipe.
function announceClusterWorker() {
  if (!process.moduleLoadList.includes('NativeModule cluster')) return;
  const cluster = require('cluster');
  if (!cluster.isWorker || cluster.worker === null || cluster.worker.state !== 'online') return;
  process.send({ cmd: 'NODE_CLUSTER', act: 'online' });
}
