'use strict';

const { RingBuffer } = require('./ring');
const worker_threads = require('./worker_threads');

module.exports = { RingBuffer, worker_threads };
