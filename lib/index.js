'use strict';

const { RingBuffer } = require('./ring');

module.exports = { RingBuffer };
