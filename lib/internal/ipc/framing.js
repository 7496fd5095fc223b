'use strict';

// How IPC messages become bytes, for both IPC paths, one codec per
// serialization:
//   json      JSON text. Node's protocol ends each text with '\n'.
//   advanced  the bytes of a v8 serializer whose host objects carry a
//             uint32 tag: 0 an ArrayBufferView (v8's default host-object
//             form follows), 1 any other host object (its own enumerable
//             properties follow, as a value) — what Node's fork sends.
//             Node's protocol puts a 4-byte big-endian length before each.
// and the record types of the fork channel (fork_channel.js), whose
// records carry one of these bodies, or the wire form of plain data.

const { StringDecoder } = require('string_decoder');
const { TAG_VALUE } = require('../wire');

const { codes: { ERR_IPC_MESSAGE_TOO_LARGE } } = require('../errors');

const TAG_VIEW = 0;
const TAG_OTHER = 1;

// The largest message either IPC path takes from a peer (and sends): a
// message a peer keeps adding to is an error, not memory held without end.
const MAX_MESSAGE = 1024 * 1024 * 1024;

// v8's serializer classes, made the first time an 'advanced' message is
// coded: a child that only speaks json never loads the v8 module (it
// costs about a millisecond of every fork()'s start).
let codec = null;
function advancedCodec() {
  if (codec !== null) return codec;
  const v8 = require('v8');
  class Serializer extends v8.DefaultSerializer {
    _writeHostObject(object) {
      if (ArrayBuffer.isView(object)) {
        this.writeUint32(TAG_VIEW);
        return super._writeHostObject(object);
      }
      this.writeUint32(TAG_OTHER);
      this.writeValue({ ...object });
      return true;
    }
  }
  class Deserializer extends v8.DefaultDeserializer {
    _readHostObject() {
      const tag = this.readUint32();
      if (tag === TAG_VIEW) return super._readHostObject();
      return this.readValue();
    }
  }
  codec = { Serializer, Deserializer };
  return codec;
}

// The advanced bytes of `message`, after `prefix` bytes left for a length.
function serializeAdvanced(message, prefix = 0) {
  const ser = new (advancedCodec().Serializer)();
  if (prefix !== 0) ser.writeRawBytes(Buffer.alloc(prefix));
  ser.writeHeader();
  ser.writeValue(message);
  return ser.releaseBuffer();
}

function deserializeAdvanced(bytes) {
  const des = new (advancedCodec().Deserializer)(bytes);
  des.readHeader();
  return des.readValue();
}

// ---- Node's protocol on a byte stream ---------------------------------------

// One framed message: text (json) or bytes (advanced).
function frameNode(advanced, message) {
  if (!advanced) return `${JSON.stringify(message)}\n`;
  const out = serializeAdvanced(message, 4);
  out.writeUInt32BE(out.length - 4, 0);
  return out;
}

// Splits a stream of json lines into messages. Pieces of a long text wait
// in a list until a '\n' ends it, so a large message costs one pass over
// its bytes, not one per chunk.
class JsonLineParser {
  constructor(max = MAX_MESSAGE) {
    this.max = max;
    this.decoder = new StringDecoder('utf8');
    this.pieces = [];
    this.held = 0; // characters in pieces
  }

  // In the middle of a message (Node's channel.buffering).
  get buffering() { return this.pieces.length !== 0; }

  push(chunk, onMessage) {
    const part = this.decoder.write(chunk);
    if (part.indexOf('\n') === -1) {
      if (part.length !== 0) {
        this.pieces.push(part);
        this.held += part.length;
        if (this.held > this.max) throw ERR_IPC_MESSAGE_TOO_LARGE(this.max);
      }
      return;
    }
    this.held = 0;
    let text = part;
    if (this.pieces.length !== 0) {
      this.pieces.push(part);
      text = this.pieces.join('');
      this.pieces = [];
    }
    let start = 0;
    let nl;
    while ((nl = text.indexOf('\n', start)) !== -1) {
      onMessage(JSON.parse(text.slice(start, nl)));
      start = nl + 1;
    }
    if (start < text.length) this.pieces.push(text.slice(start));
  }
}

// Splits a stream of length-prefixed advanced messages.
class AdvancedParser {
  constructor() {
    this.chunks = [];
    this.bytes = 0;
  }

  // In the middle of a message (Node's channel.buffering).
  get buffering() { return this.bytes !== 0; }

  push(chunk, onMessage) {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    for (;;) {
      if (this.bytes < 4) return;
      let head = this.chunks[0];
      if (head.length < 4) {
        head = Buffer.concat(this.chunks, this.bytes);
        this.chunks = [head];
      }
      const size = head.readUInt32BE(0) + 4;
      if (size - 4 > MAX_MESSAGE) throw ERR_IPC_MESSAGE_TOO_LARGE(MAX_MESSAGE);
      if (this.bytes < size) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.bytes);
      const rest = all.subarray(size);
      this.chunks = rest.length === 0 ? [] : [rest];
      this.bytes = rest.length;
      onMessage(deserializeAdvanced(all.subarray(4, size)));
    }
  }
}

// ---- the fork channel's records ---------------------------------------------

// Record payload: one type byte, then the body. A type byte with MORE set
// is a fragment: more of the same message follows.
const RECORD_WIRE = TAG_VALUE; // 'v' plain data in the wire form (wire.js);
//                                the type byte is the wire record's first
const RECORD_JSON = 0x4a; // 'J' JSON text
const RECORD_ADVANCED = 0x41; // 'A' advanced bytes
const RECORD_HANDLE = 0x48; // 'H' a handle message: JSON of { type, msg,
//                               advanced?, ...extra }; the descriptor
//                               travels on the socket, before the record
const RECORD_MORE = 0x80;

// The body of a message that the wire form does not carry.
function encodeBody(advanced, message) {
  return advanced ? serializeAdvanced(message) : JSON.stringify(message);
}

function decodeBody(type, body) {
  if (type === RECORD_JSON) return JSON.parse(body.utf8Slice(0, body.length));
  return deserializeAdvanced(body);
}

// A handle message's body and back. Under 'advanced' the message itself
// travels as advanced bytes, in base64 inside the JSON.
function encodeHandleBody(advanced, message, type, extra) {
  const meta = { type, ...extra };
  if (advanced) {
    meta.advanced = true;
    meta.msg = serializeAdvanced(message).toString('base64');
  } else {
    meta.msg = message;
  }
  return JSON.stringify(meta);
}

function decodeHandleBody(body) {
  const meta = JSON.parse(body.utf8Slice(0, body.length));
  if (meta === null || typeof meta !== 'object' || typeof meta.type !== 'string') {
    throw new TypeError('malformed handle record');
  }
  if (meta.advanced === true) meta.msg = deserializeAdvanced(Buffer.from(String(meta.msg), 'base64'));
  return meta;
}

// Gathers the fragments of one message.
class Fragments {
  constructor(max = MAX_MESSAGE) {
    this.max = max;
    this.parts = null;
    this.bytes = 0;
    this.type = 0;
  }

  get open() { return this.parts !== null; }

  // Add a fragment; returns true when it was the last one (then take()).
  add(type, body) {
    if (this.parts === null) {
      this.parts = [];
      this.bytes = 0;
      this.type = type & ~RECORD_MORE;
    } else if ((type & ~RECORD_MORE) !== this.type) {
      throw new TypeError('fragments of different types');
    }
    this.bytes += body.length;
    if (this.bytes > this.max) {
      this.parts = null;
      throw ERR_IPC_MESSAGE_TOO_LARGE(this.max);
    }
    this.parts.push(body);
    return (type & RECORD_MORE) === 0;
  }

  take() {
    const body = Buffer.concat(this.parts, this.bytes);
    this.parts = null;
    return body;
  }
}

module.exports = {
  MAX_MESSAGE,
  serializeAdvanced,
  deserializeAdvanced,
  frameNode,
  JsonLineParser,
  AdvancedParser,
  RECORD_WIRE,
  RECORD_JSON,
  RECORD_ADVANCED,
  RECORD_HANDLE,
  RECORD_MORE,
  encodeBody,
  decodeBody,
  encodeHandleBody,
  decodeHandleBody,
  Fragments,
};
