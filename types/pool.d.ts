// Types of native-workers/pool: piscina 5's API, so that code written for
// piscina type-checks after changing only the import.
import { EventEmitterAsyncResource } from 'events';
import type { ResourceLimits, Worker as NodeWorker, MessagePort } from 'worker_threads';
import type { URL } from 'url';
import type { ThreadPoolStats } from './thread_pool';

declare class Pool<T = any, R = any> extends EventEmitterAsyncResource {
  constructor(options?: Pool.Options);
  run(task: T, options?: Pool.RunOptions): Promise<R>;
  close(options?: Pool.CloseOptions): Promise<void>;
  destroy(): Promise<void>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
  readonly maxThreads: number;
  readonly minThreads: number;
  readonly options: Pool.FilledOptions;
  readonly threads: NodeWorker[];
  readonly idleThreads: number;
  readonly queueSize: number;
  readonly completed: number;
  readonly histogram: Pool.PoolHistogram;
  readonly utilization: number;
  /** ThreadPool's stats, field for field (a fresh copy each read). */
  readonly stats: Pool.Stats;
  readonly duration: number;
  readonly needsDrain: boolean;
  static readonly isWorkerThread: boolean;
  static readonly workerData: any;
  static readonly version: string;
  static readonly Piscina: typeof Pool;
  static readonly Pool: typeof Pool;
  static readonly default: typeof Pool;
  static readonly FixedQueue: typeof FixedQueue;
  static readonly ArrayTaskQueue: typeof ArrayTaskQueue;
  static move<V>(value: V): V | Pool.Transferable;
  static readonly transferableSymbol: typeof transferableSymbol;
  static readonly valueSymbol: typeof valueSymbol;
  static readonly queueOptionsSymbol: typeof queueOptionsSymbol;
}

declare class ArrayTaskQueue implements Pool.TaskQueue {
  readonly size: number;
  shift(): Pool.Task | null;
  remove(task: Pool.Task): void;
  push(task: Pool.Task): void;
  unshift(task: Pool.Task): void;
}

declare class FixedQueue implements Pool.TaskQueue {
  readonly size: number;
  shift(): Pool.Task | null;
  remove(task: Pool.Task): void;
  push(task: Pool.Task): void;
  unshift(task: Pool.Task): void;
}

declare const transferableSymbol: unique symbol;
declare const valueSymbol: unique symbol;
declare const queueOptionsSymbol: unique symbol;
declare namespace Pool {
  export interface Transferable {
    readonly [transferableSymbol]: object;
    readonly [valueSymbol]: object;
  }

  export type TransferListItem = ArrayBuffer | MessagePort | object;
  export type TransferList = TransferListItem[];

  export interface Task {
    readonly [queueOptionsSymbol]: object | null;
  }

  export interface TaskQueue {
    readonly size: number;
    shift(): Task | null;
    remove(task: Task): void;
    push(task: Task): void;
    unshift?(task: Task): void;
  }

  export interface PoolTask extends Task {
    readonly taskId: number;
    readonly filename: string;
    readonly name: string;
    readonly created: number;
    readonly isAbortable: boolean;
  }

  export interface PoolWorkerInfo {
    readonly id: number;
    readonly currentUsage: number;
    readonly isRunningAbortableTask: boolean;
    readonly histogram: HistogramSummary | null;
    readonly terminating: boolean;
    readonly destroyed: boolean;
  }

  export type LoadBalancer = (task: PoolTask, workers: PoolWorkerInfo[]) => PoolWorkerInfo | null;

  export interface HistogramSummary {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    p0_001: number;
    p0_01: number;
    p0_1: number;
    p1: number;
    p2_5: number;
    p10: number;
    p25: number;
    p50: number;
    p75: number;
    p90: number;
    p97_5: number;
    p99: number;
    p99_9: number;
    p99_99: number;
    p99_999: number;
  }

  export interface PoolHistogram {
    readonly runTime: HistogramSummary;
    readonly waitTime: HistogramSummary;
    resetRunTime(): void;
    resetWaitTime(): void;
  }

  export interface Options {
    filename?: string | URL | null;
    name?: string | null;
    minThreads?: number;
    maxThreads?: number;
    idleTimeout?: number;
    maxQueue?: number | 'auto';
    concurrentTasksPerWorker?: number;
    atomics?: 'sync' | 'async' | 'disabled';
    resourceLimits?: ResourceLimits;
    argv?: any[];
    execArgv?: string[];
    env?: NodeJS.ProcessEnv | symbol;
    workerData?: any;
    taskQueue?: TaskQueue;
    niceIncrement?: number;
    trackUnmanagedFds?: boolean;
    closeTimeout?: number;
    recordTiming?: boolean;
    stricterFIFO?: boolean;
    loadBalancer?: LoadBalancer;
    workerHistogram?: boolean;
    runtime?: 'thread' | 'process';
  }

  export interface FilledOptions extends Options {
    filename: string | null;
    name: string;
    minThreads: number;
    maxThreads: number;
    idleTimeout: number;
    maxQueue: number;
    concurrentTasksPerWorker: number;
    taskQueue: TaskQueue;
    niceIncrement: number;
    closeTimeout: number;
    recordTiming: boolean;
    workerHistogram: boolean;
  }

  export interface RunOptions {
    transferList?: TransferList;
    filename?: string | URL | null;
    signal?: AbortSignal | null;
    name?: string | null;
  }

  /** The same type as ThreadPool's `stats`. */
  export type Stats = ThreadPoolStats;

  export interface CloseOptions {
    force?: boolean;
  }

}

export = Pool;
