// Types of native-workers/worker_threads: the same API as node:worker_threads
// (Node 20) for the parts it mirrors, so a script can switch by changing only
// its require/import.
import { EventEmitter } from 'events';
import type {
  WorkerOptions as NodeWorkerOptions,
  ResourceLimits,
  TransferListItem as NodeTransferListItem,
} from 'worker_threads';
import type { Readable, Writable } from 'stream';
import type { URL } from 'url';

export type TransferListItem = NodeTransferListItem | MessagePort;

export interface WorkerOptions extends Omit<NodeWorkerOptions, 'transferList'> {
  transferList?: ReadonlyArray<TransferListItem>;
}

export interface StructuredSerializeOptions {
  transfer?: ReadonlyArray<TransferListItem>;
}

export class MessagePort extends EventEmitter {
  private constructor();
  postMessage(value: any, transferList?: ReadonlyArray<TransferListItem> | StructuredSerializeOptions): void;
  start(): void;
  close(): void;
  ref(): this;
  unref(): this;
  hasRef(): boolean;
  addEventListener(type: string, listener: (event: any) => void, options?: { once?: boolean }): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
  onmessage: ((event: { data: any }) => void) | null;
  on(event: 'message', listener: (value: any) => void): this;
  on(event: 'messageerror', listener: (error: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class MessageChannel {
  readonly port1: MessagePort;
  readonly port2: MessagePort;
}

export class Worker extends EventEmitter {
  constructor(filename: string | URL, options?: WorkerOptions);
  readonly threadId: number;
  readonly resourceLimits?: ResourceLimits;
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly performance: import('worker_threads').WorkerPerformance;
  postMessage(value: any, transferList?: ReadonlyArray<TransferListItem> | StructuredSerializeOptions): void;
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
  getHeapSnapshot(): Promise<Readable>;
  on(event: 'online', listener: () => void): this;
  on(event: 'message', listener: (value: any) => void): this;
  on(event: 'messageerror', listener: (error: Error) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'exit', listener: (exitCode: number) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export function receiveMessageOnPort(port: MessagePort | import('worker_threads').MessagePort): { message: any } | undefined;
export const isMainThread: boolean;
export const parentPort: MessagePort | null;
export const workerData: any;
export const threadId: number;
export const resourceLimits: ResourceLimits;
/** Node's own SHARE_ENV, so it fits Node's WorkerOptions too. */
export const SHARE_ENV: typeof import('worker_threads').SHARE_ENV;
export function setEnvironmentData(key: any, value: any): void;
export function getEnvironmentData(key: any): any;
export function markAsUntransferable(object: object): void;
/** Node's own, passed through: it accepts only node:worker_threads ports. */
export const moveMessagePortToContext: typeof import('worker_threads').moveMessagePortToContext;
/** Node's own BroadcastChannel, passed through. */
export const BroadcastChannel: typeof import('worker_threads').BroadcastChannel;
/** Node's own postMessageToThread, passed through. */
export const postMessageToThread: (threadId: number, value: any, transferList?: ReadonlyArray<any>, timeout?: number) => Promise<void>;
