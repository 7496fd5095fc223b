'use strict';

// A property planted on Object.prototype (prototype pollution) changes
// nothing the package spawns or runs: every option is read from the
// caller's own properties, as Node's child_process does. Each option is
// planted in turn (then removed), in a child process of its own.

const assert = require('assert');
const path = require('path');
const { execFileSync } = require('child_process');

const FIXTURE = path.join(__dirname, 'fixtures', 'options-pollution.js');

function run(which, enumerable) {
  const out = execFileSync(process.execPath, [FIXTURE, which, enumerable ? '1' : '0'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 120000,
  });
  return JSON.parse(out);
}

describe('options planted on Object.prototype', function () {
  this.timeout(240000);

  for (const enumerable of [false, true]) {
    const how = enumerable ? 'enumerable' : 'non-enumerable';

    it(`child_process: spawn, exec, execFile, fork and the Sync forms see what Node's see (${how})`, () => {
      const node = run('node', enumerable);
      const ours = run('ours', enumerable);
      assert.ok(Object.keys(node).length >= 140);
      assert.deepStrictEqual(ours, node);
      // Node is immune: the planted uid, cwd and shell were not used.
      assert.match(JSON.parse(ours['uid execFileSync']).ok, /^0\n/);
      assert.match(JSON.parse(ours['cwd execSync']).ok, new RegExp(`${process.cwd()}`));
    });

    it(`Worker, MessageChannel, RingBuffer, ThreadPool and Pool behave as without the plant (${how})`, () => {
      const r = run('parts', enumerable);
      const baseline = {};
      for (const [k, v] of Object.entries(r)) if (k.startsWith('baseline ')) baseline[k.slice(9)] = v;
      assert.deepStrictEqual(Object.keys(baseline).sort(),
        ['MessageChannel', 'NodeMessageChannel', 'Pool', 'RingBuffer', 'ThreadPool', 'Worker']);
      for (const v of Object.values(baseline)) assert.ok(JSON.parse(v).ok !== undefined, v);
      for (const [k, v] of Object.entries(r)) {
        const [name, api] = k.split(' ');
        if (name === 'baseline' || api === 'NodeMessageChannel') continue;
        const nodeFails = r[`${name} NodeMessageChannel`] !== baseline.NodeMessageChannel;
        if (nodeFails && (api === 'Worker' || api === 'MessageChannel' || api === 'Pool')) {
          // Node's own MessageChannel, under ours, fails under this plant
          // (its EventTarget reads options through the prototype): ours
          // fails the same way, with an error, not a hang.
          assert.deepStrictEqual(JSON.parse(v), JSON.parse(r[`${name} NodeMessageChannel`]), k);
          continue;
        }
        assert.strictEqual(v, baseline[api], k);
      }
    });
  }
});

describe('cluster options planted on Object.prototype', function () {
  this.timeout(120000);
  const FIX = path.join(__dirname, 'fixtures', 'cluster-pollution.js');
  const PLANTS = {
    exec: '"/nonexistent.js"', args: '["--x"]', execArgv: '["--bogus"]', silent: 'true', stdio: '"ignore"',
    cwd: '"/nonexistent"', uid: '999', gid: '999', serialization: '"bogus"', inspectPort: '-5', windowsHide: '5',
    env: '{"X":"1"}',
  };
  const outcome = (mod, name) => execFileSync(process.execPath, [FIX, mod, name, PLANTS[name]],
    { encoding: 'utf8', timeout: 30000 }).split('\n')[0];
  it(`setupPrimary settings and fork() see what Node's cluster sees (${Object.keys(PLANTS).length} options)`, () => {
    for (const name of Object.keys(PLANTS)) {
      assert.strictEqual(outcome(path.join(__dirname, '..', 'lib', 'cluster.js'), name), outcome('cluster', name), name);
    }
  });
});
