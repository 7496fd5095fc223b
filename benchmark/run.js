'use strict';

// `npm run bench`: every benchmark of the package, one after the other, each
// side by side with the Node built-in it replaces. `npm run bench -- ring`
// runs only the named ones.

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const only = process.argv.slice(2);
const files = fs.readdirSync(__dirname)
  .filter((f) => f.endsWith('.js') && f !== 'run.js' && !f.startsWith('_'))
  .filter((f) => only.length === 0 || only.includes(path.basename(f, '.js')))
  .sort();

const cpu = os.cpus()[0];
console.log(`# native-workers benchmarks, ${new Date().toISOString().slice(0, 10)}`);
console.log(`# ${os.cpus().length} x ${cpu ? cpu.model : 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
            `Linux ${os.release()}, Node ${process.version}`);
for (const f of files) {
  console.log(`\n## ${path.basename(f, '.js')}`);
  execFileSync(process.execPath, ['--expose-gc', path.join(__dirname, f)], { stdio: 'inherit' });
}
