import cjs from './index.js';

export const { RingBuffer, ThreadPool, child_process, worker_threads, version } = cjs;
export default cjs;
