#!/usr/bin/env node
'use strict';

// npm run test:package
//
// What a user gets: `npm pack`, then install the tarball into a fresh app
// with a PATH that holds node, sh and a few basic tools but no compiler,
// make or python, and run scripts/smoke.js there. Also checks what the tarball
// holds. Builds this machine's prebuilt binary first when prebuilds/ has
// none (`npm run prebuild -- host`).

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const libc = fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
const hostPrebuild = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`, `native-workers.${libc}.node`);

function npmCli() {
  if (process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)) return process.env.npm_execpath;
  return path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

function main() {
  if (!fs.existsSync(hostPrebuild)) run(process.execPath, [path.join(__dirname, 'prebuild.js'), 'host'], { stdio: 'inherit' });
  run(process.execPath, [path.join(__dirname, 'check-prebuilds.js'), '--expect', `${process.platform}-${process.arch}-${libc}`],
    { stdio: 'inherit' });

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-package-'));
  try {
    const packed = JSON.parse(run(process.execPath, [npmCli(), 'pack', '--json', '--pack-destination', work], { cwd: ROOT }))[0];
    const files = packed.files.map((f) => f.path);
    console.log(`tarball ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`);
    for (const must of ['LICENSE', 'CHANGELOG.md', 'README.md', 'binding.gyp', 'lib/index.js', 'types/index.d.ts',
      'include/native_workers.h', path.relative(ROOT, hostPrebuild)]) {
      assert.ok(files.includes(must), `the tarball lacks ${must}`);
    }
    for (const f of files) {
      assert.ok(!/^(test|benchmark|scripts|\.ci|build|node_modules)\//.test(f) && !/^\.mocharc/.test(f),
        `the tarball holds ${f}, which users do not need`);
    }

    // A PATH with node, a shell and a few basic tools, as on a server
    // image: no compiler, make or python.
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    for (const tool of ['sh', 'echo', 'id', 'cat', 'ls', 'uname', 'true', 'env']) {
      const where = ['/bin', '/usr/bin'].map((d) => path.join(d, tool)).find((p) => fs.existsSync(p));
      if (where) fs.symlinkSync(where, path.join(bin, tool));
    }
    const env = { HOME: process.env.HOME, PATH: bin, npm_config_nodedir: '/nonexistent' };
    for (const k of Object.keys(process.env)) if (/^(npm_config_(cache|registry|cafile|userconfig))$/i.test(k)) env[k] = process.env[k];
    for (const tool of ['cc', 'gcc', 'make', 'python3', 'python']) {
      assert.notStrictEqual(spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env }).status, 0, `${tool} is on the test PATH`);
    }

    // Once as npm installs by default, once with install scripts off: the
    // prebuilt binary must serve both.
    for (const mode of [[], ['--ignore-scripts']]) {
      const app = path.join(work, `app${mode.length ? '-no-scripts' : ''}`);
      fs.mkdirSync(app);
      fs.writeFileSync(path.join(app, 'package.json'), '{ "name": "smoke-app", "version": "1.0.0", "private": true }\n');
      console.log(`\n== npm install ${mode.join(' ')} the tarball, PATH=${bin}`);
      run(process.execPath, [npmCli(), 'install', '--no-audit', '--no-fund', '--foreground-scripts', ...mode,
        path.join(work, packed.filename)], { cwd: app, env, stdio: 'inherit' });
      fs.copyFileSync(path.join(__dirname, 'smoke.js'), path.join(app, 'smoke.js'));
      run(process.execPath, ['smoke.js'], { cwd: app, env, stdio: 'inherit' });
    }
    console.log('package test passed: installed with no compiler on PATH; every entry point works in CJS and ESM');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
