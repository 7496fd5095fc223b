'use strict';

// Every bad call in fixtures/messages/cases.js throws what Node's module
// throws, name, code and message, or throws nothing where Node throws
// nothing.

const assert = require('assert');
const path = require('path');
const { execFileSync } = require('child_process');

const RUN = path.join(__dirname, 'fixtures', 'messages', 'run.js');
const LIB = path.join(__dirname, '..', 'lib');

function results(part, mod) {
  return JSON.parse(execFileSync(process.execPath, [RUN, part, mod], { encoding: 'utf8', timeout: 30000 }));
}

describe('bad calls throw Node\'s errors, word for word', function () {
  this.timeout(60000);
  for (const [part, mod] of [['wt', 'worker_threads'], ['cp', 'child_process']]) {
    it(`${mod}: ${require('./fixtures/messages/cases.js')[part].length} cases`, () => {
      const node = results(part, mod);
      const ours = results(part, path.join(LIB, `${mod}.js`));
      assert.strictEqual(ours.length, node.length);
      for (let i = 0; i < node.length; i++) assert.deepStrictEqual(ours[i], node[i]);
    });
  }
});
