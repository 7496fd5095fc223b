'use strict';

// fork() with the shared-memory channel: the same code as with
// node:child_process, only the require changes.
//   node fork.js
const { fork } = require('native-workers/child_process');

if (process.argv[2] === 'child') {
  // The child: square every number it gets; stop when told.
  process.on('message', (m) => {
    if (m === 'done') process.disconnect();
    else process.send(m * m);
  });
} else {
  const child = fork(__filename, ['child']);
  let sum = 0;
  let got = 0;
  const N = 100000;
  const t0 = process.hrtime.bigint();
  child.on('message', (sq) => {
    sum += sq;
    if (++got === N) {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      console.log(`${N} round trips in ${ms.toFixed(0)} ms, sum of squares ${sum}`);
      child.send('done');
    }
  });
  for (let i = 0; i < N; i++) child.send(i);
  child.on('exit', (code) => console.log(`child exited with ${code}`));
}
