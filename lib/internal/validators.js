'use strict';

// Argument checks shared by every part, throwing errors from errors.js.

const {
  codes: { ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE, ERR_SOCKET_BAD_PORT },
} = require('./errors');

// `allowNull`: null passes too (a flag, not an options object, so that
// nothing on Object.prototype can change it).
function validateObject(value, name, allowNull = false) {
  if ((allowNull !== true && value === null) || typeof value !== 'object' || Array.isArray(value)) {
    throw ERR_INVALID_ARG_TYPE(name, 'Object', value);
  }
}

function validateOptionalObject(value, name) {
  if (value === undefined) return {};
  validateObject(value, name);
  return value;
}

function validateFunction(value, name) {
  if (typeof value !== 'function') throw ERR_INVALID_ARG_TYPE(name, 'Function', value);
}

function validateString(value, name) {
  if (typeof value !== 'string') throw ERR_INVALID_ARG_TYPE(name, 'string', value);
}

function validateBoolean(value, name) {
  if (typeof value !== 'boolean') throw ERR_INVALID_ARG_TYPE(name, 'boolean', value);
}

function validateNumber(value, name, min = undefined, max) {
  if (typeof value !== 'number') throw ERR_INVALID_ARG_TYPE(name, 'number', value);
  if ((min != null && value < min) || (max != null && value > max) ||
      ((min != null || max != null) && Number.isNaN(value))) {
    throw ERR_OUT_OF_RANGE(name,
      `${min != null ? `>= ${min}` : ''}${min != null && max != null ? ' && ' : ''}${max != null ? `<= ${max}` : ''}`,
      value);
  }
}

function validateInteger(value, name, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== 'number') throw ERR_INVALID_ARG_TYPE(name, 'number', value);
  if (!Number.isInteger(value)) throw ERR_OUT_OF_RANGE(name, 'an integer', value);
  if (value < min || value > max) throw ERR_OUT_OF_RANGE(name, `>= ${min} && <= ${max}`, value);
}

// A port as Node's validatePort takes it: a number or a numeric string,
// an integer from 0 (unless !allowZero) to 65535. Returns it as a number.
function validatePort(port, name = 'Port', allowZero = true) {
  if ((typeof port !== 'number' && typeof port !== 'string') ||
      (typeof port === 'string' && port.trim().length === 0) ||
      +port !== (+port >>> 0) || port > 0xFFFF || (port === 0 && !allowZero)) {
    throw ERR_SOCKET_BAD_PORT(name, port, allowZero);
  }
  return port | 0;
}

function validateOneOf(value, name, oneOf) {
  if (!oneOf.includes(value)) {
    const allowed = oneOf.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ');
    throw ERR_INVALID_ARG_VALUE(name, value, `must be one of: ${allowed}`);
  }
}

function validateAbortSignal(signal, name) {
  if (signal !== undefined &&
      (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw ERR_INVALID_ARG_TYPE(name, 'AbortSignal', signal);
  }
}

// A timeout in milliseconds: undefined (wait forever), or a number >= 0
// (Infinity allowed).
function validateTimeout(value, name) {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number') throw ERR_INVALID_ARG_TYPE(name, 'number', value);
  if (Number.isNaN(value) || value < 0) throw ERR_OUT_OF_RANGE(name, '>= 0', value);
  return value;
}

module.exports = {
  validateObject,
  validateOptionalObject,
  validateFunction,
  validateString,
  validateBoolean,
  validateNumber,
  validateInteger,
  validateOneOf,
  validatePort,
  validateAbortSignal,
  validateTimeout,
};
