'use strict';

const { RingBuffer } = require('./ring');
const { ThreadPool } = require('./thread_pool');

module.exports = { RingBuffer, ThreadPool };
