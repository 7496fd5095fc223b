import Pool from './pool.js';

export const {
  Piscina,
  FixedQueue,
  ArrayTaskQueue,
  move,
  transferableSymbol,
  valueSymbol,
  queueOptionsSymbol,
  version,
} = Pool;
export { Pool };
// Read when this module is evaluated, as piscina's named exports are: in a
// task thread the pool's entry has set them before any task file loads.
export const isWorkerThread = Pool.isWorkerThread;
export const workerData = Pool.workerData;
export default Pool;
