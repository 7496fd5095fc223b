'use strict';

// The bytes of native-workers/remote: task and result frames, and the
// values inside them.
//
// A value travels as a record of the package's wire form (lib/internal/
// wire.js), made stateless: the encoder forgets the shapes a record
// defined as soon as the bytes are copied out (rollback()), so every record
// defines its own shapes and a fresh Decoder reads it, whichever host or
// caller wrote the one before. Values the wire form does not carry
// (Buffers, typed arrays, Maps, Sets, errors, BigInts, cycles) go as
// Node's structured-clone serialization (v8.serialize), which is data
// only: neither form ever evaluates anything it reads.
//
// A frame is the bytes 'N' 'W', a kind, a flags byte, then fields:
//
//   task    (1): str id, str reply subject, str function name, f64 deadline
//                (ms since the epoch, 0 for none), then the value
//   result  (2): str id, str host, f64 run time (ms), then the value
//   failure (3): the same, the value being the error's fields
//
// `str` is a u16 byte length and UTF-8 bytes; integers are little-endian.
// Flag F_ABORTABLE: the caller may abort the task while it runs.
// Flag F_STORED: the value is not in the frame but in the name's object
// store, under the key the frame's id gives (payloads over the server's
// max_payload).

const v8 = require('v8');
const { Encoder, Decoder, TAG_VALUE } = require('../wire');

const KIND_TASK = 1;
const KIND_RESULT = 2;
const KIND_FAILURE = 3;
const F_STORED = 1;
const F_ABORTABLE = 2; // the caller gave a signal: the host runs it abortably
const MAX_VALUE = 0x7fffffff;

const encoder = new Encoder();

// The bytes of `value`: a wire record, or Node's serialization of it.
function encodeValue(value) {
  const n = encoder.encode(value, MAX_VALUE);
  if (n >= 0) {
    const out = Buffer.allocUnsafe(n);
    encoder.buf.copy(out, 0, 0, n);
    encoder.rollback();
    return out;
  }
  return v8.serialize(value);
}

function decodeValue(buf) {
  if (buf.length === 0) throw new Error('malformed remote frame: empty value');
  if (buf[0] === TAG_VALUE) {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
    return new Decoder().decode(buf, dv, 0, buf.length);
  }
  return v8.deserialize(buf);
}

// The fields of an error a task threw, as plain data: the caller rebuilds
// an Error from them (never a class named by the sender).
function errorFields(err) {
  if (err === null || typeof err !== 'object') return { thrown: encodable(err) };
  const out = {
    name: String(err.name), message: String(err.message), stack: String(err.stack),
  };
  if (err.code !== undefined) out.code = String(err.code);
  return out;
}

function encodable(v) {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v == null ? v : String(v);
}

function errorFrom(fields, id, host) {
  if (fields === null || typeof fields !== 'object') fields = {};
  if ('thrown' in fields) return fields.thrown;
  const err = new Error(typeof fields.message === 'string' ? fields.message : 'remote task failed');
  if (typeof fields.name === 'string') {
    Object.defineProperty(err, 'name', { value: fields.name, writable: true, configurable: true });
  }
  if (typeof fields.code === 'string') err.code = fields.code;
  if (typeof fields.stack === 'string') err.stack = fields.stack;
  err.taskId = id;
  err.host = host;
  return err;
}

class Writer {
  constructor(size) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }

  str(s) {
    const n = Buffer.byteLength(s);
    if (n > 0xffff) throw new RangeError('remote frame field too long');
    this.buf.writeUInt16LE(n, this.pos);
    this.buf.write(s, this.pos + 2);
    this.pos += 2 + n;
  }

  f64(v) {
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
}

function frameSize(strs, body) {
  let n = 4 + 8 + body;
  for (const s of strs) n += 2 + Buffer.byteLength(s);
  return n;
}

// A task frame; `value` is the encoded value, or null when stored.
function taskFrame(id, reply, fn, deadline, abortable, value) {
  const w = new Writer(frameSize([id, reply, fn], value !== null ? value.length : 0));
  w.buf[0] = 0x4e; w.buf[1] = 0x57; w.buf[2] = KIND_TASK;
  w.buf[3] = (value === null ? F_STORED : 0) | (abortable ? F_ABORTABLE : 0);
  w.pos = 4;
  w.str(id); w.str(reply); w.str(fn); w.f64(deadline);
  if (value !== null) value.copy(w.buf, w.pos);
  return w.buf;
}

function resultFrame(ok, id, host, runTime, value) {
  const w = new Writer(frameSize([id, host], value !== null ? value.length : 0));
  w.buf[0] = 0x4e; w.buf[1] = 0x57; w.buf[2] = ok ? KIND_RESULT : KIND_FAILURE;
  w.buf[3] = value === null ? F_STORED : 0;
  w.pos = 4;
  w.str(id); w.str(host); w.f64(runTime);
  if (value !== null) value.copy(w.buf, w.pos);
  return w.buf;
}

// The size of a frame's fields without its value, to decide whether the
// value fits in one message.
function overhead(strs) {
  return frameSize(strs, 0);
}

class Reader {
  constructor(u8) {
    this.buf = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.length);
    this.pos = 4;
  }

  need(n) {
    if (this.pos + n > this.buf.length) throw new Error('malformed remote frame');
  }

  str() {
    this.need(2);
    const n = this.buf.readUInt16LE(this.pos);
    this.need(2 + n);
    const s = this.buf.toString('utf8', this.pos + 2, this.pos + 2 + n);
    this.pos += 2 + n;
    return s;
  }

  f64() {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  rest() {
    return this.buf.subarray(this.pos);
  }
}

// -> { kind, stored, id, ..., body } or throws on a malformed frame.
function readFrame(u8) {
  const r = new Reader(u8);
  const b = r.buf;
  if (b.length < 4 || b[0] !== 0x4e || b[1] !== 0x57) throw new Error('malformed remote frame');
  const kind = b[2];
  const stored = (b[3] & F_STORED) !== 0;
  if (kind === KIND_TASK) {
    const id = r.str();
    const reply = r.str();
    const fn = r.str();
    const deadline = r.f64();
    return { kind, stored, id, reply, fn, deadline, abortable: (b[3] & F_ABORTABLE) !== 0, body: r.rest() };
  }
  if (kind === KIND_RESULT || kind === KIND_FAILURE) {
    const id = r.str();
    const host = r.str();
    const runTime = r.f64();
    return { kind, stored, id, host, runTime, body: r.rest() };
  }
  throw new Error('malformed remote frame');
}

module.exports = {
  KIND_TASK, KIND_RESULT, KIND_FAILURE,
  encodeValue, decodeValue, errorFields, errorFrom, taskFrame, resultFrame, readFrame, overhead,
};
