/// <reference types="node" />

/** Options of `new ThreadPool()`. */
export interface ThreadPoolOptions {
  /** Threads of the pool's own, 1..256. Default: `os.availableParallelism()`. */
  threads?: number;
  /** Tasks that may wait in the queue (an integer >= 1, or Infinity). Default: Infinity. */
  maxQueue?: number;
}

export interface RunOptions {
  /** Aborts a queued task at once; asks a running kernel to stop. Rejects with an `AbortError`. */
  signal?: AbortSignal;
}

/** Durations in milliseconds, from a log-linear histogram (within ~6 %). */
export interface ThreadPoolTimes {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface ThreadPoolStats {
  threads: number;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** How long kernels ran. */
  runTime: ThreadPoolTimes;
  /** How long tasks waited in the queue. */
  waitTime: ThreadPoolTimes;
  /** Kernel run time / (threads x pool lifetime), 0..1. */
  utilization: number;
}

/**
 * What a kernel takes: bytes, a string (UTF-8), a number (8 bytes, float64:
 * `sleep` takes milliseconds) or nothing. Bytes in a SharedArrayBuffer are
 * used in place; other bytes are copied once, on submission under 64 KiB and
 * by the pool thread when the task starts from 64 KiB up (leave those
 * unchanged until the promise settles; detaching or resizing them first
 * rejects with ERR_INVALID_STATE).
 */
export type KernelInput =
  | string
  | number
  | ArrayBufferView
  | ArrayBuffer
  | SharedArrayBuffer
  | undefined
  | null;

export type TypedNumberArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array
  | Int32Array | Uint32Array | Float32Array | Float64Array;
export type TypedBigIntArray = BigInt64Array | BigUint64Array;

export declare class ThreadPool {
  constructor(options?: ThreadPoolOptions);

  run(name: 'sha256' | 'sha512' | 'deflate' | 'inflate' | 'gzip' | 'gunzip' |
      'brotliCompress' | 'brotliDecompress', input: KernelInput, options?: RunOptions): Promise<Buffer>;
  run(name: 'crc32', input: KernelInput, options?: RunOptions): Promise<number>;
  run(name: 'noop' | 'sleep', input?: KernelInput, options?: RunOptions): Promise<undefined>;
  /** Sorts in place when the array is backed by a SharedArrayBuffer (and returns it); otherwise returns a sorted copy. */
  run<T extends TypedNumberArray | TypedBigIntArray>(name: 'sort', input: T, options?: RunOptions): Promise<T>;
  run(name: 'sum', input: TypedNumberArray, options?: RunOptions): Promise<number>;
  run(name: 'sum', input: TypedBigIntArray, options?: RunOptions): Promise<bigint>;
  /** A loaded kernel: a Buffer unless the kernel says otherwise. */
  run(name: string, input?: KernelInput, options?: RunOptions): Promise<any>;

  /** Names of the kernels this pool runs (built in and loaded). */
  readonly kernels: string[];
  /** Threads the pool was made with. */
  readonly threads: number;
  readonly stats: ThreadPoolStats;

  /** dlopen a kernel library (include/native_workers.h); returns the names it added. */
  load(path: string): string[];
  /** Finish running tasks, reject queued ones with ERR_POOL_CLOSED, stop the threads. */
  close(): Promise<void>;
  /** As close(), and ask running kernels to stop (their tasks reject with ERR_POOL_CLOSED). */
  destroy(): Promise<void>;
}
