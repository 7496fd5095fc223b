#!/usr/bin/env node
'use strict';

// `npx native-workers serve --servers nats://host:4222 --name resize ./task.js`:
// a host of native-workers/remote until SIGINT or SIGTERM, which let the
// running tasks finish and answer first. Credentials come from flags or,
// to keep them out of the process list, from NATS_USER, NATS_PASSWORD,
// NATS_TOKEN and NATS_CREDS (a .creds file).

const fs = require('fs');
const path = require('path');

const USAGE = `usage: native-workers serve --name NAME [options] TASK_FILE

  --servers URL[,URL]   NATS servers (default nats://127.0.0.1:4222)
  --name NAME           the task name this host serves
  --threads N           the pool's maxThreads (and minThreads)
  --runtime thread|process   the pool's runtime (default thread)
  --inflight N          tasks held at once (default: 4 per pool slot)
  --ack-wait MS         redeliver a silent host's task after MS (default 30000)
  --max-deliver N       hand a task out at most N times (default 5)
  --storage file|memory where the stream keeps tasks (default file)
  --user U --pass P --token T --creds FILE   credentials (or NATS_* variables)
`;

function fail(message) {
  process.stderr.write(`native-workers: ${message}\n${USAGE}`);
  process.exit(2);
}

function parse(argv) {
  const o = {};
  const rest = [];
  const num = (flag, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) fail(`${flag} needs a positive integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { rest.push(a); continue; }
    const v = argv[++i];
    if (v === undefined) fail(`${a} needs a value`);
    switch (a) {
      case '--servers': o.servers = v.split(','); break;
      case '--name': o.name = v; break;
      case '--threads': o.maxThreads = o.minThreads = num(a, v); break;
      case '--runtime': o.runtime = v; break;
      case '--inflight': o.inflight = num(a, v); break;
      case '--ack-wait': o.ackWait = num(a, v); break;
      case '--max-deliver': o.maxDeliver = num(a, v); break;
      case '--storage': o.storage = v; break;
      case '--user': o.user = v; break;
      case '--pass': o.pass = v; break;
      case '--token': o.token = v; break;
      case '--creds': o.creds = v; break;
      default: fail(`unknown option ${a}`);
    }
  }
  return { o, rest };
}

async function main() {
  const [command, ...argv] = process.argv.slice(2);
  if (command === '--help' || command === '-h') { process.stdout.write(USAGE); return; }
  if (command !== 'serve') fail(command === undefined ? 'no command' : `unknown command ${command}`);
  const { o, rest } = parse(argv);
  if (rest.length !== 1) fail('give exactly one task file');
  if (o.name === undefined) fail('--name is required');
  o.filename = path.resolve(rest[0]);
  const env = process.env;
  if (o.user === undefined && env.NATS_USER) o.user = env.NATS_USER;
  if (o.pass === undefined && env.NATS_PASSWORD) o.pass = env.NATS_PASSWORD;
  if (o.token === undefined && env.NATS_TOKEN) o.token = env.NATS_TOKEN;
  const creds = o.creds !== undefined ? o.creds : env.NATS_CREDS;
  delete o.creds;
  if (creds) o.authenticator = require('nats').credsAuthenticator(fs.readFileSync(creds));
  const { serve } = require('../lib/remote');
  const host = await serve(o);
  host.on('error', (err) => process.stderr.write(`native-workers: ${err.stack || err}\n`));
  process.stdout.write(`native-workers: serving '${o.name}' as ${host.id}\n`);
  const stop = () => {
    host.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`native-workers: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
  process.exit(1);
});
