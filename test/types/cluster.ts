// Typed use of native-workers/cluster: Node's own declarations.
import cluster, { isPrimary, fork, setupPrimary, SCHED_RR } from 'native-workers/cluster';
import type { Worker, ClusterSettings, Address } from 'native-workers/cluster';

const settings: ClusterSettings = { exec: 'worker.js', args: ['--x'], silent: true, serialization: 'advanced' };
setupPrimary(settings);
if (isPrimary) {
  const w: Worker = fork({ PORT: '0' });
  w.on('listening', (address: Address) => void address.port);
  w.send({ hello: 1 }, undefined, {}, (err: Error | null) => void err);
  const dead: boolean = w.isDead();
  cluster.on('exit', (worker: Worker, code: number, signal: string) => void [worker.id, code, signal, dead]);
  cluster.schedulingPolicy = SCHED_RR;
}
declare const other: Worker;
// @ts-expect-error kill takes a signal name
other.kill(9);
