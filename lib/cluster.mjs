import cjs from './cluster.js';

// The names that stay put. cluster.settings and cluster.schedulingPolicy
// are replaced as the program runs: read them from the default export.
export const {
  isPrimary,
  isMaster,
  isWorker,
  Worker,
  workers,
  worker,
  SCHED_NONE,
  SCHED_RR,
  setupPrimary,
  setupMaster,
  fork,
  disconnect,
} = cjs;
export default cjs;
