// Types of native-workers/remote: the pool's run() across hosts on NATS JetStream.
import { EventEmitter } from 'events';

export interface ConnectionOptions {
  /** nats:// or tls:// URLs (or host:port); default nats://127.0.0.1:4222. */
  servers?: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  /** An authenticator of the nats client (nkeyAuthenticator, credsAuthenticator, ...). */
  authenticator?: unknown;
  /** TLS options, given to the nats client as they are. */
  tls?: unknown;
  /** Any other option of the nats client's connect(). */
  connection?: Record<string, unknown>;
}

export interface QueueOptions {
  /** The task name: 1 to 64 letters, digits, _ or -. */
  name: string;
  /** How long a host may hold a task without a sign of life (ms, default 30000). */
  ackWait?: number;
  /** How many times a task is handed out at most (default 5). */
  maxDeliver?: number;
  /** Where the stream keeps tasks (default 'file'). */
  storage?: 'file' | 'memory';
}

export interface ServeOptions extends ConnectionOptions, QueueOptions {
  filename: string;
  minThreads?: number;
  maxThreads?: number;
  idleTimeout?: number;
  concurrentTasksPerWorker?: number;
  resourceLimits?: object;
  argv?: any[];
  execArgv?: string[];
  env?: object;
  workerData?: any;
  /** Tasks this host holds at once (default 4 x maxThreads x concurrentTasksPerWorker). */
  inflight?: number;
  /** How this host names itself in results (default hostname:pid). */
  hostId?: string;
}

export interface HostStats {
  id: string;
  running: number;
  completed: number;
  failed: number;
  redelivered: number;
  capacity: number;
}

export interface Host extends EventEmitter {
  readonly id: string;
  readonly stats: HostStats;
  close(): Promise<void>;
}

export function serve(options: ServeOptions): Promise<Host>;

export interface RemotePoolOptions extends ConnectionOptions, QueueOptions {
  /** ms until run() rejects with ERR_REMOTE_TIMEOUT / ERR_REMOTE_UNREACHABLE (default 60000). */
  timeout?: number;
  /** Tasks waiting for a result at most (default Infinity). */
  maxQueue?: number;
}

export interface RemoteRunOptions {
  name?: string;
  signal?: AbortSignal | null;
  transferList?: any[];
}

export interface RemoteStats {
  completed: number;
  failed: number;
  queueSize: number;
  duplicates: number;
  hosts: Record<string, number>;
}

export class RemotePool<T = any, R = any> extends EventEmitter {
  constructor(options: RemotePoolOptions);
  run(task: T, options?: RemoteRunOptions): Promise<R>;
  close(): Promise<void>;
  destroy(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  readonly name: string;
  readonly completed: number;
  readonly queueSize: number;
  readonly needsDrain: boolean;
  readonly stats: RemoteStats;
  readonly histogram: { runTime: Record<string, number>; waitTime: Record<string, number> };
}
