#!/usr/bin/env node
'use strict';

// npm run prebuild [-- TARGET...]
//
// Makes the prebuilt binaries that ship in the tarball, the way
// prebuildify lays them out for node-gyp-build:
//
//   prebuilds/linux-x64/native-workers.glibc.node      (prebuildify --napi --tag-libc)
//   prebuilds/linux-x64/native-workers.musl.node
//   prebuilds/linux-x64/nw_exec_helper                 (the uid/gid helper)
//   prebuilds/linux-arm64/...
//
// TARGETs are names from the table below (linux-x64-glibc, ...) or 'host'
// (the one this machine runs). Without any, every target whose toolchain is
// installed is built, and the others are listed as skipped. The Node-API
// addon is built once per target: Node-API keeps it working on every Node
// from 20 on. Each build runs in a scratch copy of the sources, so the
// checkout's own build/ (the one the tests use) is left alone.
//
// Toolchains (Debian packages): gcc (host), gcc-aarch64-linux-gnu (arm64
// glibc), musl-tools (x64 musl). Check the results with
// `npm run check:prebuilds`.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const SOURCES = ['binding.gyp', 'package.json', 'src', 'include'];

// What a musl build needs beyond musl's own headers: the kernel's UAPI
// headers (linux/, asm/, asm-generic/), which musl-gcc leaves out.
function kernelHeaders(triplet) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-kheaders-'));
  for (const [name, from] of [['linux', '/usr/include/linux'], ['asm', `/usr/include/${triplet}/asm`],
    ['asm-generic', '/usr/include/asm-generic']]) {
    fs.symlinkSync(from, path.join(dir, name));
  }
  return dir;
}

const TARGETS = {
  'linux-x64-glibc': { arch: 'x64', libc: 'glibc', cc: 'gcc', strip: 'strip', helperCc: 'gcc' },
  'linux-x64-musl': {
    arch: 'x64', libc: 'musl', cc: 'musl-gcc', strip: 'strip', helperCc: 'musl-gcc',
    cflags: () => `-isystem ${kernelHeaders('x86_64-linux-gnu')}`,
  },
  'linux-arm64-glibc': {
    arch: 'arm64', libc: 'glibc', cc: 'aarch64-linux-gnu-gcc', strip: 'aarch64-linux-gnu-strip',
    helperCc: 'aarch64-linux-gnu-gcc',
  },
};

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function hostName() {
  const libc = fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
  return `${process.platform}-${process.arch}-${libc}`;
}

function sh(cmd, args, env) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

// The headers node-gyp builds against: npm's nodedir when set, else the
// ones installed beside this node binary.
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const beside = path.join(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(beside, 'include', 'node', 'node_api.h')) ? beside : undefined;
}

function build(name, t) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `nw-prebuild-${name}-`));
  try {
    for (const f of SOURCES) fs.cpSync(path.join(ROOT, f), path.join(scratch, f), { recursive: true });
    const env = { ...process.env, CC: t.cc, CXX: t.cc, LINK: t.cc, PREBUILD_LIBC: t.libc };
    const dir = nodeDir();
    if (dir) env.npm_config_nodedir = dir;
    if (t.cflags) env.CFLAGS = t.cflags();
    sh(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc',
      `--arch=${t.arch}`, `--strip-bin=${t.strip}`, `--node-gyp=${path.join(ROOT, 'node_modules', '.bin', 'node-gyp')}`,
      `--cwd=${scratch}`, `--out=${ROOT}`], env);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  // The uid/gid helper, one per architecture beside the addons. Linked
  // statically with musl where musl-gcc targets that architecture, so one
  // small file serves glibc and musl alike; elsewhere linked against the
  // target's glibc (arm64 ships glibc addons only), and then it is held to
  // the same glibc floor as the addon by check:prebuilds.
  const out = path.join(ROOT, 'prebuilds', `linux-${t.arch}`, 'nw_exec_helper');
  const musl = t.arch === process.arch && process.arch === 'x64' && have('musl-gcc');
  sh(musl ? 'musl-gcc' : t.helperCc, [...(musl ? ['-static'] : []), '-std=gnu11', '-O2', '-Wall', '-Wextra',
    '-D_GNU_SOURCE', '-I', path.join(ROOT, 'src'), '-o', out, path.join(ROOT, 'src', 'core', 'exec_helper.c')]);
  sh(t.strip, ['--strip-all', out]);
}

function main() {
  let wanted = process.argv.slice(2).map((a) => (a === 'host' ? hostName() : a));
  const explicit = wanted.length > 0;
  if (!explicit) wanted = Object.keys(TARGETS);
  for (const name of wanted) if (!TARGETS[name]) throw new Error(`unknown target ${name}; known: host ${Object.keys(TARGETS).join(' ')}`);
  const made = [];
  const skipped = [];
  for (const name of wanted) {
    const t = TARGETS[name];
    if (!have(t.cc)) {
      if (explicit) throw new Error(`${name}: ${t.cc} is not installed`);
      skipped.push(`${name} (no ${t.cc})`);
      continue;
    }
    console.log(`\n== prebuild ${name} with ${t.cc}`);
    build(name, t);
    made.push(name);
  }
  console.log(`\nprebuilt: ${made.join(', ') || 'nothing'}${skipped.length ? `; skipped: ${skipped.join(', ')}` : ''}`);
}

main();
