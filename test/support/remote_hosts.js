'use strict';

// Host processes for the remote tests and benchmark: each a real child
// running test/fixtures/remote/host.js, ready once it printed so.

const { spawn } = require('child_process');
const path = require('path');

const HOST = path.join(__dirname, '..', 'fixtures', 'remote', 'host.js');

function startHost(options) {
  const child = spawn(process.execPath, [HOST, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  child.ready = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve(child);
    });
    child.once('exit', (code, signal) => reject(new Error(`host exited (${code}, ${signal}) before ready: ${err}`)));
  });
  child.ready.catch(() => {});
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return child;
}

async function stopHost(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await child.exited;
}

module.exports = { startHost, stopHost };
