'use strict';

// A real nats-server with JetStream for the remote tests and benchmark: on a
// free loopback port, with its store in a fresh temporary directory,
// stopped (and the directory removed) by stop(). restart() keeps the port
// and the store, as a server that comes back does.

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

function available() {
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

class NatsServer {
  constructor(port, dir, extra) {
    this.port = port;
    this.dir = dir;
    this.extra = extra;
    this.child = null;
    this.url = `nats://127.0.0.1:${port}`;
  }

  async start() {
    this.child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.dir, ...this.extra],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    this.child.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    const deadline = Date.now() + 10000;
    for (;;) {
      if (await canConnect(this.port)) break;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`nats-server did not start: ${log}`);
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
    }
    // JetStream is ready a moment after the port opens.
    await new Promise((r) => setTimeout(r, 100));
    return this;
  }

  async halt(signal = 'SIGTERM') {
    const c = this.child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
    this.child = null;
  }

  async restart() {
    await this.halt();
    await this.start();
  }

  async stop() {
    await this.halt();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function startServer(extra = []) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-nats-'));
  const s = new NatsServer(port, dir, extra);
  await s.start();
  return s;
}

module.exports = { available, startServer, freePort };
