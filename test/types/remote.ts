// Typed use of native-workers/remote: hosts and callers.
import { serve, RemotePool } from 'native-workers/remote';
import type { Host, RemoteStats } from 'native-workers/remote';

async function main(): Promise<void> {
  const host: Host = await serve({ servers: 'nats://127.0.0.1:4222', name: 'resize', filename: '/srv/resize.js', maxThreads: 2 });
  const pool = new RemotePool<{ width: number }, Buffer>({ servers: ['nats://127.0.0.1:4222'], name: 'resize', timeout: 1000 });
  const ac = new AbortController();
  const out: Buffer = await pool.run({ width: 640 }, { name: 'thumb', signal: ac.signal });
  const stats: RemoteStats = pool.stats;
  void [out, stats.completed];
  await pool.close();
  await host.close();
  // @ts-expect-error a host needs the file it runs
  void serve({ name: 'resize' });
}
void main;
