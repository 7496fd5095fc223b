/// <reference types="node" />

export { ThreadPool, ThreadPoolOptions, ThreadPoolStats, ThreadPoolTimes, RunOptions, KernelInput } from './thread_pool';
