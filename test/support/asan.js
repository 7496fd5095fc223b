'use strict';

// npm run test:asan: build the addon (and the testing addon and helper)
// with AddressSanitizer + UBSan into build-asan/, then run the mocha suite
// against that build (NW_ADDON_DIR, lib/internal/locate.js), with the
// ASan runtime preloaded into node, which is not itself instrumented.
// Arguments are passed to mocha (e.g. `npm run test:asan -- --no-config
// --timeout 60000 test/ring.test.js`). Not part of npm test.
//
// Leak detection is off: node frees little at exit, and the C unit tests
// (npm run test:sanitize) check the core's own leaks. Any ASan or UBSan
// report fails the run, also one in a child process or a worker.

const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', '..');
const stage = path.join(root, 'build-asan');
const flags = '-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g';

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status === null ? 1 : r.status;
}

// The gyp project, seen from a directory of its own: node-gyp always
// builds into ./build of the project directory, which `npm run build`
// wipes.
fs.mkdirSync(stage, { recursive: true });
for (const name of ['binding.gyp', 'src', 'include']) {
  const link = path.join(stage, name);
  if (!fs.existsSync(link)) fs.symlinkSync(path.join('..', name), link);
}
const cc = process.env.CC || 'cc';
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const buildEnv = { ...process.env, CC: cc, CFLAGS: flags, LDFLAGS: flags };
let status = 0;
// Configured once; make rebuilds what changed.
if (!fs.existsSync(path.join(stage, 'build', 'Makefile'))) {
  status = run(process.execPath, [gyp, 'configure', '-C', stage], { env: buildEnv });
}
if (status === 0) status = run(process.execPath, [gyp, 'build', '-C', stage], { env: buildEnv });
if (status !== 0) process.exit(status);

const libasan = execFileSync(cc, ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
if (!path.isAbsolute(libasan)) {
  console.error(`test:asan: ${cc} has no libasan.so`);
  process.exit(1);
}
const env = {
  ...process.env,
  NW_ADDON_DIR: path.join(stage, 'build', 'Release'),
  LD_PRELOAD: libasan,
  // V8 handles SIGSEGV itself (WebAssembly bounds checks); ASan must let it.
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1:handle_segv=0:' +
    'detect_stack_use_after_return=0',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
const mocha = require.resolve('mocha/bin/mocha.js');
status = run(process.execPath, [mocha, ...process.argv.slice(2)], { env, cwd: root });
process.exit(status);
