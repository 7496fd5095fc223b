'use strict';

// The BullMQ side of benchmark/remote.js (benchmark/_bullmq.js): the Redis
// it starts, its Worker processes and the jobs it runs give the same
// answers as our hosts, it leaves nothing behind, and without redis-server
// it says how to get one instead of failing.

const assert = require('assert');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const redis = require('./support/redis_server');

const BULL = path.join(__dirname, '..', 'benchmark', '_bullmq.js');

describe('benchmark/remote.js: the BullMQ side', function () {
  this.timeout(60000);

  it('runs the small task one at a time and many at once, then stops its Redis and Workers', async function () {
    if (!redis.available()) {
      // CI installs it (.ci/run); a developer's machine may not have it.
      if (process.env.CI) throw new Error('redis-server is not installed');
      this.skip();
    }
    const { startBull } = require(BULL);
    const bull = await startBull({ held: 4 });
    assert.strictEqual(bull.skipped, undefined);
    const { child, dir } = bull.redis;
    try {
      assert.strictEqual(await bull.run(null), 1);
      for (let i = 0; i < 5; i++) assert.strictEqual(await bull.run(i), i + 1);
      const got = await Promise.all(Array.from({ length: 200 }, (_, i) => bull.run(i)));
      assert.deepStrictEqual(got, Array.from({ length: 200 }, (_, i) => i + 1));
      assert.match(bull.about, /BullMQ \d+\.\d+\.\d+, ioredis \d+\.\d+\.\d+, redis-server \d+\.\d+/);
    } finally {
      await bull.stop();
    }
    assert.ok(child.exitCode !== null || child.signalCode !== null, 'redis-server still running');
    assert.strictEqual(fs.existsSync(dir), false);
  });

  it('without redis-server on PATH: skipped, saying how to install it', () => {
    const out = execFileSync(process.execPath, ['-e',
      `require(${JSON.stringify(BULL)}).startBull({ held: 1 }).then((r) => console.log(JSON.stringify(r)))`],
    { env: { ...process.env, PATH: '/nonexistent' }, encoding: 'utf8' });
    const r = JSON.parse(out);
    assert.match(r.skipped, /^redis-server not found: apt-get install redis-server/);
  });
});
