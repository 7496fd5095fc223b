/// <reference types="node" />

export { RingBuffer, RingBufferOptions, RingWaitOptions, RingAsyncOptions, RingData } from './ring';
