import cjs from './index.js';

export const { RingBuffer, ThreadPool, child_process } = cjs;
export default cjs;
