#!/usr/bin/env node
'use strict';

// npm run test:types (part of npm test)
//
// tsc --noEmit --strict over the typed usage files in test/types/ (one per
// entry point, plus an ES module), as a user's project sees the package:
// from a scratch app whose node_modules/native-workers is this checkout,
// once per "moduleResolution": node16, nodenext, bundler and node10 (which
// knows no "exports" and finds the subpaths through "typesVersions"). Each
// `// @ts-expect-error` line in them is misuse that must be caught: tsc
// fails on one that is not.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const USAGE = path.join(ROOT, 'test', 'types');
const TSC = require.resolve('typescript/bin/tsc');

const MODES = {
  node16: { module: 'node16', moduleResolution: 'node16', esm: true },
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext', esm: true },
  bundler: { module: 'esnext', moduleResolution: 'bundler', esm: false },
  node10: { module: 'commonjs', moduleResolution: 'node10', esm: false },
};

// Every subpath entry needs its typesVersions line (for node10) and a
// usage file here; the main entry's file is index.ts.
function coverage() {
  const pkg = require(path.join(ROOT, 'package.json'));
  const missing = [];
  for (const key of Object.keys(pkg.exports)) {
    if (key === './package.json') continue;
    const entry = key === '.' ? 'index' : key.slice(2);
    if (!pkg.exports[key].types) missing.push(`exports["${key}"] has no "types"`);
    if (key !== '.' && !(pkg.typesVersions && pkg.typesVersions['*'] && pkg.typesVersions['*'][entry])) {
      missing.push(`typesVersions has no "${entry}" (moduleResolution node10 cannot find its types)`);
    }
    if (!fs.existsSync(path.join(USAGE, `${entry}.ts`))) missing.push(`test/types/${entry}.ts is missing`);
  }
  return missing;
}

function main() {
  const missing = coverage();
  for (const m of missing) console.log(`FAIL ${m}`);
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'nw-types-'));
  let failed = 0;
  try {
    fs.mkdirSync(path.join(app, 'node_modules', '@types'), { recursive: true });
    fs.symlinkSync(ROOT, path.join(app, 'node_modules', 'native-workers'));
    fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(app, 'node_modules', '@types', 'node'));
    fs.writeFileSync(path.join(app, 'package.json'), '{ "name": "types-app", "private": true }\n');
    const files = fs.readdirSync(USAGE).filter((f) => /\.m?ts$/.test(f)).sort();
    for (const f of files) fs.copyFileSync(path.join(USAGE, f), path.join(app, f));
    for (const [name, m] of Object.entries(MODES)) {
      const config = {
        compilerOptions: {
          strict: true, noEmit: true, target: 'es2022', lib: ['es2022'], types: ['node'],
          module: m.module, moduleResolution: m.moduleResolution, skipLibCheck: false,
          forceConsistentCasingInFileNames: true,
        },
        files: files.filter((f) => m.esm || !f.endsWith('.mts')),
      };
      const cfg = path.join(app, `tsconfig.${name}.json`);
      fs.writeFileSync(cfg, JSON.stringify(config, null, 2));
      const r = spawnSync(process.execPath, [TSC, '-p', cfg], { cwd: app, encoding: 'utf8' });
      if (r.status === 0) {
        console.log(`ok   tsc --strict, moduleResolution ${name}: ${config.files.join(' ')}`);
      } else {
        failed++;
        console.log(`FAIL tsc --strict, moduleResolution ${name}\n${r.stdout}${r.stderr}`);
      }
    }
  } finally {
    fs.rmSync(app, { recursive: true, force: true });
  }
  if (failed || missing.length) process.exit(1);
}

main();
