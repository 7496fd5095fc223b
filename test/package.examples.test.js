'use strict';

// Every program in examples/ runs as a user would run it after copying it
// into an app that has native-workers installed: it requires the package by
// name, exits with 0 and writes nothing to stderr. New examples are picked
// up by name (*.js, *.mjs).

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { ROOT, makeApp, run } = require('./support/docs');

const EXAMPLES = path.join(ROOT, 'examples');
const programs = fs.readdirSync(EXAMPLES).filter((f) => /\.(c|m)?js$/.test(f)).sort();

describe('package: examples run when copied into an app', function () {
  this.timeout(120000);
  let app;
  before(() => {
    app = makeApp('nw-examples-');
    for (const f of fs.readdirSync(EXAMPLES)) fs.copyFileSync(path.join(EXAMPLES, f), path.join(app, f));
  });
  after(() => fs.rmSync(app, { recursive: true, force: true }));

  it('there are examples to run', () => assert.ok(programs.length >= 4, programs.join(' ')));

  it('no example reaches into the package by a relative path', () => {
    for (const f of programs) {
      const src = fs.readFileSync(path.join(EXAMPLES, f), 'utf8');
      assert.doesNotMatch(src, /require\(\s*['"]\.\.?(\/|['"])|from\s+['"]\.\.?\//, `${f} requires a relative path`);
    }
  });

  for (const f of programs) {
    it(`examples/${f}`, async () => {
      const r = await run(process.execPath, [f], { cwd: app, timeout: 100000 });
      assert.strictEqual(r.stderr, '', `${f} wrote to stderr:\n${r.stderr}`);
      assert.deepStrictEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.stdout);
      assert.notStrictEqual(r.stdout.trim(), '', `${f} printed nothing`);
    });
  }
});
