'use strict';

// The BullMQ side of benchmark/remote.js: a redis-server of its own
// (test/support/redis_server.js), two BullMQ Worker processes
// (_remote_peer.js bullmq) running benchmark/_pool_task.js with
// concurrency `held` each, and in this process a Queue that adds the jobs
// and one QueueEvents that hears them complete.
//
// startBull({ held }) resolves with { run(x), stop(), about, redis }, where run(x)
// is queue.add() + job.waitUntilFinished() and resolves with the task's
// result, or with { skipped: why } when redis-server or bullmq is missing.

const { execFileSync } = require('child_process');
const redis = require('../test/support/redis_server');
const { peer } = require('./_remote_peer');

const WORKERS = 2;
const QUEUE = 'bench';

async function startBull({ held }) {
  if (!redis.available()) return { skipped: `redis-server not found: ${redis.INSTALL}` };
  let bullmq;
  try {
    bullmq = require('bullmq');
  } catch {
    return { skipped: 'the bullmq devDependency is not installed: npm install' };
  }
  let server;
  try {
    server = await redis.startRedis();
  } catch (err) {
    return { skipped: err.message };
  }
  const connection = { host: server.host, port: server.port };
  // The events stream is kept long enough that no completion of the jobs
  // in flight is trimmed before the QueueEvents reads it (its default,
  // 10 k events, is about 2.5 k jobs).
  const queue = new bullmq.Queue(QUEUE, { connection, streams: { events: { maxLen: 100000 } } });
  // Every waitUntilFinished() listens for the queue's closing.
  queue.setMaxListeners(0);
  queue.on('error', (err) => console.error(`bullmq queue: ${err.message}`));
  const events = new bullmq.QueueEvents(QUEUE, { connection });
  events.on('error', (err) => console.error(`bullmq events: ${err.message}`));
  const workers = [];
  const stop = async () => {
    for (const w of workers) w.kill('SIGKILL');
    await events.close().catch(() => {});
    await queue.close().catch(() => {});
    await server.stop();
  };
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    for (let i = 0; i < WORKERS; i++) workers.push(await peer('bullmq', QUEUE, String(server.port), String(held)));
  } catch (err) {
    await stop();
    throw err;
  }
  const run = async (x) => (await queue.add('inc', x)).waitUntilFinished(events, 120000);
  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/);
  return {
    run, stop, redis: server,
    about: `BullMQ ${require('bullmq/package.json').version}, ioredis ${require('ioredis/package.json').version}, ` +
      `redis-server ${version ? version[1] : '?'}, ${WORKERS} Workers of concurrency ${held}`,
  };
}

module.exports = { startBull };
