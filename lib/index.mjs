import cjs from './index.js';

export const { RingBuffer, worker_threads } = cjs;
export default cjs;
