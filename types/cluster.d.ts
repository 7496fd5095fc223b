// native-workers/cluster mirrors node:cluster (Node 20): the same module
// object, events, settings and Worker, so it reuses Node's own
// declarations. Workers are started by native-workers' fork() and talk to
// the primary over its shared-memory channel.
import cluster from 'cluster';

export default cluster;

// The named exports of lib/cluster.mjs: the names that stay put (read
// settings and schedulingPolicy from the default export).
export declare const isPrimary: typeof cluster.isPrimary;
export declare const isMaster: typeof cluster.isMaster;
export declare const isWorker: typeof cluster.isWorker;
export declare const workers: typeof cluster.workers;
export declare const worker: typeof cluster.worker;
export declare const SCHED_NONE: typeof cluster.SCHED_NONE;
export declare const SCHED_RR: typeof cluster.SCHED_RR;
export declare const setupPrimary: typeof cluster.setupPrimary;
export declare const setupMaster: typeof cluster.setupMaster;
export declare const fork: typeof cluster.fork;
export declare const disconnect: typeof cluster.disconnect;

export { Worker } from 'cluster';
export type { Cluster, ClusterSettings, Address } from 'cluster';
