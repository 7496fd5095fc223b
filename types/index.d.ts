/// <reference types="node" />

export { RingBuffer, RingBufferOptions, RingWaitOptions, RingAsyncOptions, RingData } from './ring';
export { ThreadPool, ThreadPoolOptions, ThreadPoolStats, ThreadPoolTimes, RunOptions, KernelInput } from './thread_pool';
export * as child_process from './child_process';
export * as worker_threads from './worker_threads';
