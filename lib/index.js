'use strict';

const { RingBuffer } = require('./ring');
const child_process = require('./child_process');

module.exports = { RingBuffer, child_process };
