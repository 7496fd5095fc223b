'use strict';

// A real redis-server (Debian's package) for the BullMQ side of
// benchmark/remote.js: on a free loopback port, its working directory (and
// so its snapshot file) a fresh temporary directory, stopped and the
// directory removed by stop(). Persistence is Redis's own default, as the
// package runs it: RDB snapshots, no append-only file.

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const { freePort } = require('./nats_server');

const INSTALL = 'apt-get install redis-server (Debian; .ci/run installs it when missing)';

function available() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Connects and asks PING: the port opens before the data is loaded.
function ping(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    c.once('connect', () => c.write('PING\r\n'));
    c.on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) {
        c.destroy();
        resolve(got.startsWith('+PONG'));
      }
    });
    c.once('error', () => resolve(false));
  });
}

class RedisServer {
  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.child = null;
    this.host = '127.0.0.1';
  }

  async start() {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--daemonize', 'no', '--logfile', '', '--maxmemory-policy', 'noeviction'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const keep = (d) => { log = (log + d).slice(-4000); };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    const deadline = Date.now() + 10000;
    for (;;) {
      if (await ping(this.port)) break;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server did not start: ${log}`);
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
    }
    return this;
  }

  async stop() {
    const c = this.child;
    if (c !== null && c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    this.child = null;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function startRedis() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-redis-'));
  return new RedisServer(port, dir).start();
}

module.exports = { available, startRedis, INSTALL };
