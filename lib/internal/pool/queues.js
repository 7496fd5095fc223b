'use strict';

// Task queues of native-workers/pool, with piscina's TaskQueue interface
// (size, push, shift, remove; unshift optional) so that a user's own queue
// (a priority queue reading task[Pool.queueOptionsSymbol], say) plugs in.

const { codes: { ERR_INVALID_ARG_VALUE } } = require('../errors');

// A queue on a plain array: simple, O(n) shift and remove.
class ArrayTaskQueue {
  constructor() {
    this.tasks = [];
  }

  get size() { return this.tasks.length; }

  push(task) { this.tasks.push(task); }

  unshift(task) { this.tasks.unshift(task); }

  shift() {
    return this.tasks.length === 0 ? null : this.tasks.shift();
  }

  remove(task) {
    const at = this.tasks.indexOf(task);
    if (at === -1) throw ERR_INVALID_ARG_VALUE('task', task, 'is not in the queue');
    this.tasks.splice(at, 1);
  }
}

// A queue on a growable circular array: O(1) push, unshift and shift,
// O(n) remove (aborts only). The pool's default.
class FixedQueue {
  #buf = new Array(16);
  #head = 0;
  #size = 0;

  get size() { return this.#size; }

  #grow() {
    const old = this.#buf;
    const buf = new Array(old.length * 2);
    for (let i = 0; i < this.#size; i++) buf[i] = old[(this.#head + i) & (old.length - 1)];
    this.#buf = buf;
    this.#head = 0;
  }

  push(task) {
    if (this.#size === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#size) & (this.#buf.length - 1)] = task;
    this.#size++;
  }

  unshift(task) {
    if (this.#size === this.#buf.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#buf.length - 1);
    this.#buf[this.#head] = task;
    this.#size++;
  }

  shift() {
    if (this.#size === 0) return null;
    const task = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#buf.length - 1);
    this.#size--;
    return task;
  }

  remove(task) {
    const buf = this.#buf;
    const mask = buf.length - 1;
    let i = 0;
    while (i < this.#size && buf[(this.#head + i) & mask] !== task) i++;
    if (i === this.#size) throw ERR_INVALID_ARG_VALUE('task', task, 'is not in the queue');
    for (; i < this.#size - 1; i++) buf[(this.#head + i) & mask] = buf[(this.#head + i + 1) & mask];
    buf[(this.#head + this.#size - 1) & mask] = undefined;
    this.#size--;
  }
}

function isTaskQueue(value) {
  return value !== null && typeof value === 'object' && 'size' in value &&
    typeof value.shift === 'function' && typeof value.remove === 'function' && typeof value.push === 'function';
}

module.exports = { ArrayTaskQueue, FixedQueue, isTaskQueue };
