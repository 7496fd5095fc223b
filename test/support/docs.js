'use strict';

// Helpers for the tests that run the documentation: a temporary app in
// which `native-workers` resolves to this checkout, as it would after
// `npm install native-workers`, and the code blocks of a Markdown file.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const ROOT = path.join(__dirname, '..', '..');

// A fresh directory with node_modules/native-workers -> this checkout.
function makeApp(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'native-workers'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "app", "private": true }\n');
  return dir;
}

// Run `cmd args` in `cwd`; resolves { code, signal, stdout, stderr } and
// kills the process group after `timeout` ms.
function run(cmd, args, { cwd, timeout = 60000, env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s) => { stderr += s; });
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeout} ms]`;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeout);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// The fenced code blocks of a Markdown text, in order:
// { lang, code, line, file, skip }.
// - `file`: the block's first line is `// file: NAME` (or `/* file: NAME */`,
//   `# file: NAME`): it is a file the blocks after it use, written, not run.
// - `skip`: the reason given by a `<!-- readme-test: skip: REASON -->` line
//   right before the fence; a skipped block is neither written nor run.
function codeBlocks(markdown) {
  const lines = markdown.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(```+|~~~+)\s*([^\s`]*)/.exec(lines[i]);
    if (!open) continue;
    const fence = open[2];
    const start = i;
    const body = [];
    for (i++; i < lines.length && !lines[i].trimStart().startsWith(fence); i++) body.push(lines[i]);
    const code = `${body.join('\n')}\n`;
    // A skip marker is the nearest non-blank line before the fence.
    let j = start - 1;
    while (j >= 0 && lines[j].trim() === '') j--;
    const marker = j >= 0 ? /<!--\s*readme-test:\s*skip:?\s*(.*?)\s*-->/.exec(lines[j]) : null;
    const skip = marker ? marker[1] : null;
    const named = /^(?:\/\/|\/\*|#)\s*file:\s*(\S+?)\s*(?:\*\/)?$/.exec(body[0] || '');
    blocks.push({ lang: open[3], code, line: start + 1, file: named ? named[1] : null, skip });
  }
  return blocks;
}

module.exports = { ROOT, makeApp, run, codeBlocks };
