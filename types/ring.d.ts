/// <reference types="node" />

export type RingData = string | NodeJS.ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

export interface RingBufferOptions {
  /** 'single' (default) or 'multi': how many threads may write at once. */
  producers?: 'single' | 'multi';
  /** 'single' (default) or 'multi': how many threads may read at once. */
  consumers?: 'single' | 'multi';
}

export interface RingWaitOptions {
  /** Milliseconds to wait; default: no limit. */
  timeout?: number;
}

export interface RingReadIntoOptions extends RingWaitOptions {
  /** Where in `buffer` the message goes; default 0. */
  offset?: number;
}

export interface RingAsyncOptions extends RingWaitOptions {
  signal?: AbortSignal;
}

/**
 * A ring of variable-length messages in a SharedArrayBuffer, shared by
 * threads (JavaScript or native) of one process.
 */
export class RingBuffer implements AsyncIterable<Buffer> {
  /** `capacity` is rounded up to a power of two (at least 8 bytes). */
  constructor(capacity: number, options?: RingBufferOptions);
  /** Attach to a ring made by this package (in another thread, say). */
  static from(buffer: SharedArrayBuffer): RingBuffer;
  readonly buffer: SharedArrayBuffer;
  /** Bytes in the data area; each message takes 4 + its length rounded up to 4. */
  readonly capacity: number;
  /** The largest message the ring holds: capacity - 4. */
  readonly maxMessageSize: number;
  readonly producers: 'single' | 'multi';
  readonly consumers: 'single' | 'multi';
  readonly closed: boolean;
  /** false when the ring is full; throws ERR_RING_CLOSED when closed. */
  tryWrite(data: RingData): boolean;
  /** Blocks until there is room; false on timeout. */
  write(data: RingData, options?: RingWaitOptions): boolean;
  /** Resolves true once written, false on timeout. */
  writeAsync(data: RingData, options?: RingAsyncOptions): Promise<boolean>;
  /** A message, or null when empty (or closed and drained). */
  tryRead(): Buffer | null;
  /** Blocks; null on timeout, or when closed and drained. */
  read(options?: RingWaitOptions): Buffer | null;
  /**
   * Reads the next message into `buffer` at `offset` (default 0) without
   * allocating; returns its length, or -1 when the ring is empty (or closed
   * and drained). A message longer than the room from `offset` stays in the
   * ring and ERR_OUT_OF_RANGE is thrown; with consumers: 'multi' the room
   * must hold maxMessageSize bytes.
   */
  tryReadInto(buffer: NodeJS.ArrayBufferView | ArrayBuffer | SharedArrayBuffer, offset?: number): number;
  /** As tryReadInto, but blocks like read(); -1 on timeout, or when closed and drained. */
  readInto(buffer: NodeJS.ArrayBufferView | ArrayBuffer | SharedArrayBuffer, options?: RingReadIntoOptions): number;
  /** Never blocks the event loop; null on timeout, or when closed and drained. */
  readAsync(options?: RingAsyncOptions): Promise<Buffer | null>;
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
  /** Writers then throw ERR_RING_CLOSED; readers drain, then end. */
  close(): void;
}
