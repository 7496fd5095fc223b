'use strict';

// native-workers/child_process is a drop-in for node:child_process whose
// children start with posix_spawn: the cost of a spawn stays flat however
// much memory this process holds. Run: node child_process.js

const util = require('util');
const { spawn, execFile, execSync } = require('native-workers/child_process');

async function main() {
  // Hold 256 MiB, resident, to show the spawn cost does not grow with it.
  const big = Buffer.alloc(256 * 1024 * 1024, 1);

  const t0 = process.hrtime.bigint();
  const child = spawn('ls', ['-l', '/'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lines = 0;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => { lines += s.split('\n').length - 1; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`ls exited with ${code} after ${ms.toFixed(2)} ms, ${lines} lines (parent holds ${big.length >> 20} MiB)`);

  const { stdout } = await util.promisify(execFile)('uname', ['-sr']);
  console.log(`execFile: ${stdout.trim()}`);
  console.log(`execSync: ${execSync('echo $((6 * 7))', { encoding: 'utf8' }).trim()}`);
}

main();
