import cjs from './index.js';

export const { RingBuffer } = cjs;
export default cjs;
