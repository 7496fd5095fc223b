import cjs from './index.js';

export const { RingBuffer, child_process } = cjs;
export default cjs;
