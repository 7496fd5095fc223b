'use strict';

// The child of benchmark/fork.js, the same script under node:child_process
// fork and ours. Commands arrive as messages; everything else is data.
let mode = null;
let left = 0;
process.send('ready');
process.on('message', (m) => {
  if (mode === 'count') {
    if (--left === 0) {
      mode = null;
      process.send('done');
    }
    return;
  }
  if (mode === 'echo') {
    if (m === 'stop') {
      mode = null;
      return;
    }
    process.send(m);
    return;
  }
  if (m && m.cmd === 'count') {
    mode = 'count';
    left = m.n;
    process.send('go');
  } else if (m && m.cmd === 'echo') {
    mode = 'echo';
    process.send('go');
  } else if (m === 'exit') {
    process.disconnect();
  }
});
