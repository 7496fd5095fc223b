'use strict';

const { RingBuffer } = require('./ring');
const { ThreadPool } = require('./thread_pool');
const child_process = require('./child_process');
const worker_threads = require('./worker_threads');

const { version } = require('../package.json');

module.exports = { RingBuffer, ThreadPool, child_process, worker_threads, version };
