'use strict';

// Every code block of README.md runs as written, in order, in an app that
// has native-workers installed:
// - ```js and ```mjs blocks run with node, ```sh blocks with bash; each must
//   exit with 0 and write nothing to stderr;
// - a block whose first line is `// file: NAME` is written to NAME for the
//   blocks after it (```c blocks must be such files);
// - ```text blocks are listings, not code;
// - a block may be left out only with a `<!-- readme-test: skip: REASON -->`
//   line before it, and the reason must be given.
// New sections are covered as soon as they are written.

const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { ROOT, makeApp, run, codeBlocks } = require('./support/docs');

const DOCS = ['README.md'];
const RUN = { js: [process.execPath, '.js'], mjs: [process.execPath, '.mjs'], sh: ['bash', '.sh'] };

for (const doc of DOCS) {
  const blocks = codeBlocks(fs.readFileSync(path.join(ROOT, doc), 'utf8'));

  describe(`package: every code block of ${doc} runs`, function () {
    this.timeout(120000);
    let app;
    before(() => { app = makeApp('nw-readme-'); });
    after(() => fs.rmSync(app, { recursive: true, force: true }));

    it('every block says its language, and every skip gives its reason', () => {
      for (const b of blocks) {
        const where = `${doc}:${b.line}`;
        assert.ok(b.lang === 'text' || b.lang === 'c' || RUN[b.lang], `${where}: fence language '${b.lang}'`);
        if (b.lang === 'c') assert.ok(b.file || b.skip !== null, `${where}: a c block must be a named file`);
        if (b.skip !== null) assert.ok(b.skip.length >= 10, `${where}: a skipped block needs a reason`);
      }
      assert.ok(blocks.filter((b) => RUN[b.lang] && b.skip === null && !b.file).length >= 8);
    });

    for (const b of blocks) {
      if (b.lang === 'text' || b.skip !== null) continue;
      const first = b.code.split('\n').find((l) => l.trim() && !/^(\/\/|#|\/\*)\s*file:/.test(l)) || '';
      if (b.file) {
        it(`${doc}:${b.line} writes ${b.file}`, () => {
          fs.writeFileSync(path.join(app, b.file), b.code);
        });
        continue;
      }
      it(`${doc}:${b.line} (${b.lang}) ${first.trim().slice(0, 60)}`, async () => {
        const [cmd, ext] = RUN[b.lang];
        const file = path.join(app, `readme-${b.line}${ext}`);
        fs.writeFileSync(file, b.code);
        const r = await run(cmd, [file], { cwd: app, timeout: 100000 });
        assert.strictEqual(r.stderr, '', `${doc}:${b.line} wrote to stderr:\n${r.stderr}`);
        assert.deepStrictEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.stdout);
      });
    }
  });
}
