import cjs from './index.js';

export const { RingBuffer, ThreadPool } = cjs;
export default cjs;
