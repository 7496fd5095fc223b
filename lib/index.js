'use strict';

const { RingBuffer } = require('./ring');
const { ThreadPool } = require('./thread_pool');
const child_process = require('./child_process');

module.exports = { RingBuffer, ThreadPool, child_process };
