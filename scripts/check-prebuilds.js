#!/usr/bin/env node
'use strict';

// npm run check:prebuilds [-- --expect linux-x64-glibc,linux-arm64-glibc,...]
//
// Checks every file in prebuilds/ before it ships:
// - it is an ELF file for the architecture its directory names
//   (x64: EM_X86_64, arm64: EM_AARCH64), 64-bit little-endian;
// - an addon (*.node) is a shared object tagged glibc or musl, exports
//   napi_register_module_v1, and needs no library but the C library's;
// - a glibc binary needs no glibc symbol version newer than GLIBC_FLOOR, so
//   it loads on Debian 12, Ubuntu 22.04, RHEL 9 and newer; a musl one needs
//   no glibc symbol at all;
// - each directory has the uid/gid helper, static or linked like an addon;
// - where this machine can run it (same architecture and libc, or
//   qemu-aarch64 for arm64), the helper execs a program; the addon of this
//   machine loads in this node, and the others load with their own
//   platform's dynamic loader where its toolchain is installed (musl-gcc;
//   gcc-aarch64-linux-gnu with qemu-user), node's symbols stubbed.
// Prints one line per file and exits 1 on any failure.

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const PREBUILDS = path.join(ROOT, 'prebuilds');
const GLIBC_FLOOR = '2.34';
const MACHINE = { x64: 62, arm64: 183 };
const GLIBC_LIBS = new Set(['libc.so.6', 'libpthread.so.0', 'libdl.so.2', 'libm.so.6', 'librt.so.1',
  'ld-linux-x86-64.so.2', 'ld-linux-aarch64.so.1']);
const MUSL_LIBS = new Set(['libc.so', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1']);

function elfHeader(file) {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(64);
  fs.readSync(fd, b, 0, 64, 0);
  fs.closeSync(fd);
  if (b.readUInt32BE(0) !== 0x7f454c46) return null;
  return { class64: b[4] === 2, little: b[5] === 1, type: b.readUInt16LE(16), machine: b.readUInt16LE(18) };
}

function readelf(args, file) {
  const r = spawnSync('readelf', [...args, '--wide', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`readelf ${args.join(' ')} ${file}: ${r.stderr || r.error}`);
  return r.stdout;
}

const cmpVersion = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  return 0;
};

// -> { needed: [...], glibc: 'x.y' | null, interp, exports: Set }
function dynamicInfo(file) {
  const dyn = readelf(['-d'], file);
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const versions = [...readelf(['-V'], file).matchAll(/Name: GLIBC_([0-9.]+)/g)].map((m) => m[1]);
  const glibc = versions.sort(cmpVersion).pop() || null;
  const interp = (/\[Requesting program interpreter: ([^\]]+)\]/.exec(readelf(['-l'], file)) || [])[1] || null;
  // --dyn-syms rows: Num: Value Size Type Bind Vis Ndx Name; defined ones only.
  const exports = new Set();
  for (const line of readelf(['--dyn-syms'], file).split('\n')) {
    const col = line.trim().split(/\s+/);
    if (col.length >= 8 && /^\d+:$/.test(col[0]) && col[6] !== 'UND') exports.add(col[7].replace(/@.*/, ''));
  }
  return { needed, glibc, interp, exports, dynamic: /Dynamic section/.test(dyn) };
}

function hostLibc() {
  return fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// Run the helper: with flags 0 it only execs the program it is given.
function runHelper(helper, arch, libc) {
  let cmd = helper;
  let pre = [];
  if (arch !== process.arch) {
    if (arch !== 'arm64' || !have('qemu-aarch64')) return 'not run (no emulator)';
    cmd = 'qemu-aarch64';
    pre = ['-L', '/usr/aarch64-linux-gnu', helper];
    if (libc === 'glibc' && !fs.existsSync('/usr/aarch64-linux-gnu/lib')) return 'not run (no arm64 libc)';
  } else if (libc !== 'static' && libc !== hostLibc()) {
    return `not run (${libc} on a ${hostLibc()} host)`;
  }
  const r = spawnSync(cmd, [...pre, '2', '0', '0', '0', '/bin/echo', 'echo', 'helper-ok'], { encoding: 'utf8' });
  if (r.status !== 0 || r.stdout.trim() !== 'helper-ok') throw new Error(`helper run failed: ${r.status} ${r.stderr}`);
  return 'runs';
}

// The C library a foreign addon would load against, and how to build and
// run a program for it here: { cc, run: [cmd, ...prefix], libc: [files] }.
function foreignToolchain(arch, libc) {
  if (arch === 'x64' && libc === 'musl' && have('musl-gcc')) {
    return { cc: 'musl-gcc', run: [], libs: ['/lib/x86_64-linux-musl/libc.so'].filter((f) => fs.existsSync(f)) };
  }
  if (arch === 'arm64' && libc === 'glibc' && have('aarch64-linux-gnu-gcc') && have('qemu-aarch64')) {
    const sysroot = '/usr/aarch64-linux-gnu';
    return { cc: 'aarch64-linux-gnu-gcc', run: ['qemu-aarch64', '-L', sysroot],
      libs: [`${sysroot}/lib/libc.so.6`, `${sysroot}/lib/libm.so.6`] };
  }
  return null;
}

// For an addon this node cannot load (another architecture or libc): load
// it with that platform's own dynamic loader, in a small program built
// with its toolchain that stands in for node by defining, as dummies, the
// symbols node would provide (napi_*, uv_*, OpenSSL, zlib, Brotli): every
// symbol the addon needs that the C library lacks. dlopen with RTLD_NOW
// then proves each C library symbol and version resolves, and the module's
// entry point is found. -> a note, or throws.
function foreignLoad(file, arch, libc) {
  const tc = foreignToolchain(arch, libc);
  if (!tc) return 'not loaded (no toolchain or emulator for it here)';
  const defined = (f) => {
    const out = new Set();
    for (const line of readelf(['--dyn-syms'], f).split('\n')) {
      const col = line.trim().split(/\s+/);
      if (col.length >= 8 && /^\d+:$/.test(col[0]) && col[6] !== 'UND') out.add(col[7].replace(/@.*/, ''));
    }
    return out;
  };
  const fromLibc = new Set();
  for (const l of tc.libs) for (const n of defined(l)) fromLibc.add(n);
  const needs = [];
  for (const line of readelf(['--dyn-syms'], file).split('\n')) {
    const col = line.trim().split(/\s+/);
    if (col.length >= 8 && /^\d+:$/.test(col[0]) && col[6] === 'UND' && col[4] !== 'WEAK') {
      const name = col[7].replace(/@.*/, '');
      if (name && !fromLibc.has(name)) needs.push(name);
    }
  }
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'nw-dlopen-'));
  try {
    const src = path.join(dir, 'load.c');
    fs.writeFileSync(src, `#include <dlfcn.h>
#include <stdio.h>
${needs.map((n) => `void ${n}(void) {}`).join('\n')}
int main(int argc, char **argv) {
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
  if (!dlsym(h, "napi_register_module_v1")) { fprintf(stderr, "no napi_register_module_v1\\n"); return 2; }
  puts("loaded");
  return 0;
}
`);
    const exe = path.join(dir, 'load');
    const cc = spawnSync(tc.cc, ['-w', '-rdynamic', '-o', exe, src, '-ldl'], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`building the load test failed: ${cc.stderr}`);
    const cmd = tc.run.length ? tc.run[0] : exe;
    const r = spawnSync(cmd, [...tc.run.slice(1), ...(tc.run.length ? [exe] : []), file], { encoding: 'utf8' });
    if (r.status !== 0 || r.stdout.trim() !== 'loaded') throw new Error(`${libc} ${arch} loader refused it: ${r.stderr.trim()}`);
    return `loads with the ${libc} ${arch} loader${tc.run.length ? ' (qemu)' : ''}, ${needs.length} symbols left to node`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function main() {
  const expectArg = process.argv.indexOf('--expect');
  const expected = expectArg > 0 ? process.argv[expectArg + 1].split(',').filter(Boolean) : [];
  const failures = [];
  const seen = new Set();
  const fail = (file, why) => failures.push(`${path.relative(ROOT, file)}: ${why}`);
  if (!fs.existsSync(PREBUILDS)) {
    console.error('no prebuilds/: run npm run prebuild first');
    process.exit(1);
  }
  for (const dir of fs.readdirSync(PREBUILDS).sort()) {
    const [platform, arch] = dir.split('-');
    const full = path.join(PREBUILDS, dir);
    if (platform !== 'linux' || !MACHINE[arch]) { fail(full, 'unexpected directory'); continue; }
    const files = fs.readdirSync(full).sort();
    if (!files.includes('nw_exec_helper')) fail(full, 'no nw_exec_helper');
    for (const f of files) {
      const file = path.join(full, f);
      const size = fs.statSync(file).size;
      const h = elfHeader(file);
      const notes = [];
      try {
        if (!h || !h.class64 || !h.little) throw new Error('not a 64-bit little-endian ELF file');
        if (h.machine !== MACHINE[arch]) throw new Error(`ELF machine ${h.machine}, not ${arch} (${MACHINE[arch]})`);
        notes.push(arch === 'x64' ? 'x86-64' : 'aarch64');
        const info = dynamicInfo(file);
        let libc;
        if (f.endsWith('.node')) {
          libc = (/\.(glibc|musl)\.node$/.exec(f) || [])[1];
          if (!libc) throw new Error('not tagged glibc or musl');
          if (h.type !== 3) throw new Error('not a shared object');
          if (!info.exports.has('napi_register_module_v1')) throw new Error('does not export napi_register_module_v1');
          seen.add(`${dir}-${libc}`);
        } else if (f === 'nw_exec_helper') {
          libc = !info.dynamic ? 'static' : (info.interp && /musl/.test(info.interp) ? 'musl' : 'glibc');
        } else {
          throw new Error('unexpected file');
        }
        notes.push(libc);
        const allowed = libc === 'musl' ? MUSL_LIBS : GLIBC_LIBS;
        const extra = info.needed.filter((n) => !allowed.has(n));
        if (libc !== 'static' && extra.length) throw new Error(`needs ${extra.join(', ')}`);
        if (libc === 'glibc') {
          if (info.glibc && cmpVersion(info.glibc, GLIBC_FLOOR) > 0) {
            throw new Error(`needs GLIBC_${info.glibc}, newer than the floor ${GLIBC_FLOOR}`);
          }
          notes.push(`glibc <= ${info.glibc} (floor ${GLIBC_FLOOR})`);
        } else if (info.glibc) {
          throw new Error(`a ${libc} binary needs GLIBC_${info.glibc}`);
        }
        if (f === 'nw_exec_helper') notes.push(`helper ${runHelper(file, arch, libc)}`);
        if (f.endsWith('.node')) {
          if (arch === process.arch && libc === hostLibc()) {
            const m = { exports: {} };
            process.dlopen(m, file);
            if (typeof m.exports.ringInit !== 'function') throw new Error('loads, but without its exports');
            notes.push('loads in this node');
          } else {
            notes.push(foreignLoad(file, arch, libc));
          }
        }
        console.log(`ok   ${path.relative(ROOT, file)}  ${(size / 1024).toFixed(1)} KiB  ${notes.join(', ')}`);
      } catch (err) {
        fail(file, err.message);
        console.log(`FAIL ${path.relative(ROOT, file)}  ${err.message}`);
      }
    }
  }
  for (const e of expected) if (!seen.has(e)) failures.push(`${e}: no prebuilt addon`);
  if (failures.length) {
    console.error(`\n${failures.length} problem(s):\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`\nall prebuilds check out (${[...seen].join(', ')})`);
}

main();
