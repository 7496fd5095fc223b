/// <reference types="node" />

export { RingBuffer, RingBufferOptions, RingWaitOptions, RingAsyncOptions, RingData } from './ring';
export { ThreadPool, ThreadPoolOptions, ThreadPoolStats, ThreadPoolTimes, RunOptions, KernelInput } from './thread_pool';
export * as child_process from './child_process';
export * as worker_threads from './worker_threads';

/** The version of the native-workers package, as in its package.json. */
export declare const version: string;
