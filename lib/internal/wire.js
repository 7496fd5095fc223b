'use strict';

// The binary form in which the worker_threads mirror carries ordinary
// values through its rings, without Node's serializer.
//
// It covers the values whose structured clone is plain data: undefined,
// null, booleans, numbers (all of them: -0, NaN and the infinities too),
// strings (exactly, lone surrogates included), Dates, dense arrays without
// named properties, and objects whose prototype is Object.prototype or
// null, holding such values, with shared references kept. Anything else
// (Maps, Sets, errors, typed arrays inside a value, BigInts, cycles, class
// instances, Proxies, ...) makes the encoder give up, and the caller sends
// the value through Node's own postMessage instead, which clones it.
//
// With { json: true } the encoder gives instead what
// JSON.parse(JSON.stringify(value)) gives (the fork channel's 'json'
// serialization): NaN and the infinities become null, -0 becomes 0, and
// it gives up on what JSON changes in other ways (undefined, Dates and
// anything with toJSON, shared references, which JSON duplicates).
//
// A record is 'v', a flags byte, then one value:
//
//   0 undefined  1 null  2 false  3 true
//   4 int32 (4 bytes)    5 float64 (8 bytes)   14 Date (float64 time)
//   6 latin1 string, u8 length, bytes
//   7 UTF-8 string, u32 byte length, bytes      (well-formed strings)
//   8 UTF-16 string, u32 code unit count, units  (the rest)
//   9 object of a known shape: u32 shape id, then one value per key
//  10 object of a new shape: u32 shape id, u32 key count, the keys (as
//     strings), then the values; the receiver remembers the shape
//  11 object without a shape: u32 key count, then key and value pairs
//  12 array: u32 length, then the elements
//  13 reference to an earlier object or array: u32 index (flags bit 0)
//
// All integers are little-endian. Shapes (the ordered keys of an object)
// are numbered by the writer of a ring and defined in the ring before
// their first use, so that the reader of that ring can rebuild an object
// of a known shape with one object literal. Shape ids live as long as the
// writer: a new writer redefines them from 0, which overwrites the
// reader's entries before any use; a reader that moves to another thread
// takes its table with it (exportShapes / the Decoder constructor).

const { isProxy } = require('util').types;

const T_UNDEF = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_INT = 4;
const T_F64 = 5;
const T_STR8 = 6;
const T_UTF8 = 7;
const T_UTF16 = 8;
const T_OBJ = 9;
const T_DEF = 10;
const T_KV = 11;
const T_ARR = 12;
const T_REF = 13;
const T_DATE = 14;

const TAG_VALUE = 0x76; // 'v'
const F_REFS = 1;
const HEADER = 2;

const MAX_DEPTH = 64;
const MAX_SHAPES = 1024; // shapes one writer defines
const MAX_SHAPE_KEYS = 32; // larger objects go without a shape
const MAX_TRIE_NODES = 8192; // key sequences the writer remembers
const SHORT_STRING = 64; // tried as latin1 first, one code unit at a time
const FACTORY_USES = 4; // a shape gets its object-literal builder on this use

const ObjectProto = Object.prototype;
const ArrayProto = Array.prototype;
const DateProto = Date.prototype;
const getProto = Object.getPrototypeOf;
const hasOwn = Object.hasOwn;
const dateTime = Date.prototype.getTime;
const fromCharCode = String.fromCharCode;

// Thrown inside the encoder when the value is not one it carries, or the
// record would be larger than allowed.
const GIVE_UP = Symbol('GIVE_UP');

// Whether `o` has an enumerable property of its own (a polluted
// Object.prototype does): an empty for-in costs next to nothing.
function hasEnumerable(o) {
  for (const k in o) if (hasOwn(o, k)) return true;
  return false;
}

class TrieNode {
  constructor(keys) {
    this.id = -1;
    this.key = undefined; // the first key seen after this one, and its node
    this.node = null;
    this.next = null; // Map key -> TrieNode for the others
    this.keys = keys; // the key sequence that leads here
  }
}

class Encoder {
  constructor(options) {
    this.json = options !== undefined && options.json === true;
    this.inherited = false; // set by encode(): Object.prototype has enumerable keys
    this.ab = new ArrayBuffer(256);
    this.u8 = new Uint8Array(this.ab);
    this.i32 = new Int32Array(this.ab);
    this.dv = new DataView(this.ab);
    this.buf = Buffer.from(this.ab);
    this.pos = 0; // after encode(): the record's length
    this.limit = 0;
    this.flags = 0;
    this.root = new TrieNode([]);
    this.nodes = 1;
    this.nextId = 0;
    this.fresh = []; // nodes given an id by the current record
    this.seen = []; // objects and arrays of the current record, in order
    this.nSeen = 0;
    this.seenMap = null; // index of `seen` once it grows
    this.finished = []; // per seen object: true once fully written
  }

  // Encode `value` as a record of at most `limit` bytes into this.u8.
  // Returns the record's length, or -1 when the value is not one this form
  // carries (or is too large); then nothing of it is kept. Errors thrown by
  // getters of the value propagate, as from Node's postMessage.
  encode(value, limit) {
    this.limit = limit;
    this.inherited = hasEnumerable(ObjectProto);
    this.flags = 0;
    this.pos = HEADER;
    let ok = false;
    try {
      this.value(value, 0);
      ok = true;
    } catch (err) {
      if (err !== GIVE_UP) {
        this.rollback();
        this.resetSeen();
        throw err;
      }
    }
    this.resetSeen();
    if (!ok) {
      this.rollback();
      return -1;
    }
    this.u8[0] = TAG_VALUE;
    this.u8[1] = this.flags;
    return this.pos;
  }

  // The record was handed on: the shapes it defines are now known to the
  // reader.
  commit() {
    if (this.fresh.length !== 0) this.fresh.length = 0;
  }

  // The record was not sent: forget the shapes it would have defined.
  rollback() {
    const fresh = this.fresh;
    for (let i = 0; i < fresh.length; i++) fresh[i].id = -1;
    this.nextId -= fresh.length;
    fresh.length = 0;
  }

  resetSeen() {
    const seen = this.seen;
    for (let i = 0; i < this.nSeen; i++) seen[i] = undefined; // hold no values
    this.nSeen = 0;
    this.seenMap = null;
    if (seen.length > 256) {
      seen.length = 0;
      this.finished.length = 0;
    }
  }

  reserve(n) {
    const need = this.pos + n;
    if (need > this.limit) throw GIVE_UP;
    if (need <= this.u8.length) return;
    let size = this.u8.length * 2;
    while (size < need) size *= 2;
    if (size > this.limit) size = this.limit;
    const ab = new ArrayBuffer(size);
    const u8 = new Uint8Array(ab);
    u8.set(this.u8.subarray(0, this.pos));
    this.ab = ab;
    this.u8 = u8;
    this.i32 = new Int32Array(ab, 0, size >> 2);
    this.dv = new DataView(ab);
    this.buf = Buffer.from(ab);
  }

  u32(v) {
    this.reserve(4);
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  tag(t) {
    this.reserve(1);
    this.u8[this.pos++] = t;
  }

  value(v, depth) {
    switch (typeof v) {
      case 'number':
        this.number(v);
        return;
      case 'string':
        this.string(v);
        return;
      case 'boolean':
        this.tag(v ? T_TRUE : T_FALSE);
        return;
      case 'undefined':
        if (this.json) throw GIVE_UP; // JSON drops the key, or gives null
        this.tag(T_UNDEF);
        return;
      case 'object':
        if (v === null) {
          this.tag(T_NULL);
          return;
        }
        this.object(v, depth);
        return;
      default:
        throw GIVE_UP; // functions, symbols, BigInts: Node's clone decides
    }
  }

  number(v) {
    if (this.json && (v !== v || v === Infinity || v === -Infinity)) {
      this.tag(T_NULL); // JSON writes null for them
      return;
    }
    if ((v | 0) === v && (v !== 0 || this.json || 1 / v > 0)) {
      this.reserve(5);
      this.u8[this.pos] = T_INT;
      this.dv.setInt32(this.pos + 1, v, true);
      this.pos += 5;
    } else {
      this.reserve(9);
      this.u8[this.pos] = T_F64;
      this.dv.setFloat64(this.pos + 1, v, true);
      this.pos += 9;
    }
  }

  string(s) {
    const n = s.length;
    if (n < SHORT_STRING) {
      this.reserve(2 + n);
      const u8 = this.u8;
      const p = this.pos + 2;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0xff) break;
        u8[p + i] = c;
      }
      if (i === n) {
        u8[this.pos] = T_STR8;
        u8[this.pos + 1] = n;
        this.pos = p + n;
        return;
      }
    }
    if (s.isWellFormed()) {
      // An upper bound first, then the exact length.
      this.reserve(5 + n * 3 > this.limit - this.pos ? 5 + Buffer.byteLength(s) : 5 + n * 3);
      const len = this.buf.utf8Write(s, this.pos + 5);
      this.u8[this.pos] = T_UTF8;
      this.dv.setUint32(this.pos + 1, len, true);
      this.pos += 5 + len;
    } else {
      this.reserve(5 + n * 2);
      this.u8[this.pos] = T_UTF16;
      this.dv.setUint32(this.pos + 1, n, true);
      this.buf.ucs2Write(s, this.pos + 5, n * 2);
      this.pos += 5 + n * 2;
    }
  }

  // Index of `o` among the objects seen in this record, or -1 (and then
  // it is added).
  remember(o) {
    const seen = this.seen;
    const n = this.nSeen;
    if (this.seenMap !== null) {
      const i = this.seenMap.get(o);
      if (i !== undefined) return i;
      this.seenMap.set(o, n);
    } else {
      for (let i = 0; i < n; i++) if (seen[i] === o) return i;
      if (n === 16) {
        this.seenMap = new Map();
        for (let j = 0; j < n; j++) this.seenMap.set(seen[j], j);
        this.seenMap.set(o, n);
      }
    }
    seen[n] = o;
    this.finished[n] = false;
    this.nSeen = n + 1;
    return -1;
  }

  object(v, depth) {
    // A Proxy first: clone refuses it without running any of its traps.
    if (depth > MAX_DEPTH || isProxy(v)) throw GIVE_UP;
    const proto = getProto(v);
    const isArray = proto === ArrayProto;
    const isDate = proto === DateProto;
    if (!isArray && !isDate && proto !== ObjectProto && proto !== null) throw GIVE_UP;
    // Arrays given another prototype, and objects that only inherit from
    // Array: Node's clone goes by what the object is, not its prototype.
    if (isArray !== Array.isArray(v)) throw GIVE_UP;
    if (this.json && (isDate || (!isArray && v.toJSON !== undefined))) throw GIVE_UP;
    let time = 0;
    if (isDate) {
      try {
        time = dateTime.call(v);
      } catch {
        throw GIVE_UP; // an object that only inherits from Date
      }
    }
    const idx = this.nSeen;
    const at = this.remember(v);
    if (at !== -1) {
      // Shared references are kept; a cycle goes to Node's clone. JSON
      // would copy a shared object, or throw on a cycle.
      if (!this.finished[at] || this.json) throw GIVE_UP;
      this.flags |= F_REFS;
      this.tag(T_REF);
      this.u32(at);
      return;
    }
    if (isDate) {
      this.reserve(9);
      this.u8[this.pos] = T_DATE;
      this.dv.setFloat64(this.pos + 1, time, true);
      this.pos += 9;
    } else if (isArray) {
      this.array(v, depth);
    } else {
      this.plain(v, depth);
    }
    this.finished[idx] = true;
  }

  array(v, depth) {
    const n = v.length;
    // Named properties on an array survive clone: leave those to Node.
    if (n < 32 ? Object.keys(v).length !== n : Object.getOwnPropertyNames(v).length !== n + 1) {
      throw GIVE_UP;
    }
    this.tag(T_ARR);
    this.u32(n);
    for (let i = 0; i < n; i++) {
      const e = v[i];
      if (e === undefined && !(i in v)) throw GIVE_UP; // a hole
      this.value(e, depth + 1);
    }
  }

  plain(v, depth) {
    // for-in gives the own enumerable string keys, as clone takes them,
    // unless something enumerable was put on Object.prototype (then its
    // keys are passed over here).
    const inherited = this.inherited && getProto(v) !== null;
    // Find the shape: walk the trie by the keys in enumeration order.
    let node = this.root;
    let n = 0;
    for (const k in v) {
      if (inherited && !hasOwn(v, k)) continue;
      n++;
      if (node === null) continue;
      if (node.key === k) {
        node = node.node;
        continue;
      }
      let next = node.next === null ? undefined : node.next.get(k);
      if (next === undefined) {
        if (n > MAX_SHAPE_KEYS || this.nodes >= MAX_TRIE_NODES) {
          node = null;
          continue;
        }
        next = new TrieNode(node.keys.concat(k));
        if (node.node === null) {
          node.key = k;
          node.node = next;
        } else {
          if (node.next === null) node.next = new Map();
          node.next.set(k, next);
        }
        this.nodes++;
      }
      node = next;
    }
    if (node !== null && node.id === -1 && this.nextId < MAX_SHAPES) {
      node.id = this.nextId++;
      this.fresh.push(node);
      this.tag(T_DEF);
      this.u32(node.id);
      const keys = node.keys;
      this.u32(keys.length);
      for (let i = 0; i < keys.length; i++) this.string(keys[i]);
    } else if (node !== null && node.id !== -1) {
      this.tag(T_OBJ);
      this.u32(node.id);
    } else {
      this.tag(T_KV);
      this.u32(n);
      let i = 0;
      for (const k in v) {
        if (inherited && !hasOwn(v, k)) continue;
        if (++i > n) throw GIVE_UP; // keys added while reading
        this.string(k);
        this.value(v[k], depth + 1);
      }
      if (i !== n) throw GIVE_UP;
      return;
    }
    // The values, checking that the keys are still the shape's (a getter
    // may change the object while it is read).
    const keys = node.keys;
    let i = 0;
    for (const k in v) {
      if (inherited && !hasOwn(v, k)) continue;
      if (keys[i] !== k) throw GIVE_UP;
      i++;
      this.value(v[k], depth + 1);
    }
    if (i !== n) throw GIVE_UP;
  }
}

// ---- decoding ---------------------------------------------------------

class Shape {
  constructor(keys) {
    this.keys = keys;
    this.uses = 0;
    this.make = null; // (decoder) => object, once the shape is in use
  }
}

// A function that builds an object of the shape with one object literal,
// its values read in order from the decoder.
function makeFactory(keys) {
  const parts = keys.map((k) => {
    const lit = JSON.stringify(k);
    // A literal `"__proto__": v` would set the prototype; a computed key
    // makes an own property, as clone does.
    return `${k === '__proto__' ? `[${lit}]` : lit}: d.value()`;
  });
  // eslint-disable-next-line no-new-func
  return new Function('d', `return { ${parts.join(', ')} };`);
}

function setOwn(o, k, v) {
  if (k === '__proto__') {
    Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  } else {
    o[k] = v;
  }
}

class Decoder {
  // `shapes`: a table taken from exportShapes() of the reader this one
  // continues, or undefined.
  constructor(shapes) {
    this.shapes = [];
    if (Array.isArray(shapes)) {
      for (let i = 0; i < shapes.length; i++) {
        if (Array.isArray(shapes[i])) this.shapes[i] = new Shape(shapes[i]);
      }
    }
    this.u8 = null;
    this.dv = null;
    this.buf = null;
    this.pos = 0;
    this.end = 0;
    this.objs = null; // objects of the record, when it has references
  }

  exportShapes() {
    return this.shapes.map((s) => s.keys);
  }

  // The value of the record at [at, at + len) of `buf` (a Buffer; `dv` a
  // DataView over the same memory). Throws on a malformed record.
  decode(buf, dv, at, len) {
    this.u8 = buf;
    this.buf = buf;
    this.dv = dv;
    this.end = at + len;
    this.objs = (buf[at + 1] & F_REFS) !== 0 ? [] : null;
    this.pos = at + HEADER;
    const v = this.value();
    if (this.pos !== this.end) throw new Error('malformed message record');
    this.objs = null;
    this.u8 = this.buf = this.dv = null;
    return v;
  }

  need(n) {
    if (this.pos + n > this.end) throw new Error('malformed message record');
  }

  u32() {
    this.need(4);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  value() {
    this.need(1);
    const t = this.u8[this.pos++];
    switch (t) {
      case T_UNDEF: return undefined;
      case T_NULL: return null;
      case T_FALSE: return false;
      case T_TRUE: return true;
      case T_INT: {
        this.need(4);
        const v = this.dv.getInt32(this.pos, true);
        this.pos += 4;
        return v;
      }
      case T_F64: {
        this.need(8);
        const v = this.dv.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case T_DATE: {
        this.need(8);
        const v = this.dv.getFloat64(this.pos, true);
        this.pos += 8;
        const d = new Date(v);
        if (this.objs !== null) this.objs.push(d);
        return d;
      }
      case T_STR8: case T_UTF8: case T_UTF16:
        this.pos--;
        return this.string();
      case T_OBJ: return this.shaped(this.shapeOf(this.u32()));
      case T_DEF: {
        const id = this.u32();
        const n = this.u32();
        if (id >= MAX_SHAPES || n > MAX_SHAPE_KEYS) throw new Error('malformed message record');
        const keys = new Array(n);
        for (let i = 0; i < n; i++) keys[i] = this.string();
        const shape = new Shape(keys);
        this.shapes[id] = shape;
        return this.shaped(shape);
      }
      case T_KV: {
        const n = this.u32();
        const slot = this.slot();
        const o = {};
        if (slot !== -1) this.objs[slot] = o;
        for (let i = 0; i < n; i++) {
          const k = this.string();
          setOwn(o, k, this.value());
        }
        return o;
      }
      case T_ARR: {
        const n = this.u32();
        if (n > this.end - this.pos) throw new Error('malformed message record');
        const a = [];
        if (this.objs !== null) this.objs.push(a);
        for (let i = 0; i < n; i++) a.push(this.value());
        return a;
      }
      case T_REF: {
        const i = this.u32();
        if (this.objs === null || i >= this.objs.length || this.objs[i] === undefined) {
          throw new Error('malformed message record');
        }
        return this.objs[i];
      }
      default:
        throw new Error('malformed message record');
    }
  }

  // Reserve the reference index of an object being built (its values come
  // first: a reference to it can only follow it).
  slot() {
    if (this.objs === null) return -1;
    this.objs.push(undefined);
    return this.objs.length - 1;
  }

  shapeOf(id) {
    const shape = this.shapes[id];
    if (shape === undefined) throw new Error('malformed message record');
    return shape;
  }

  shaped(shape) {
    const slot = this.slot();
    let o;
    if (shape.make !== null) {
      o = shape.make(this);
    } else if (++shape.uses >= FACTORY_USES) {
      shape.make = makeFactory(shape.keys);
      o = shape.make(this);
    } else {
      o = {};
      const keys = shape.keys;
      for (let i = 0; i < keys.length; i++) setOwn(o, keys[i], this.value());
    }
    if (slot !== -1) this.objs[slot] = o;
    return o;
  }

  string() {
    this.need(1);
    const t = this.u8[this.pos++];
    if (t === T_STR8) {
      this.need(1);
      const n = this.u8[this.pos++];
      this.need(n);
      const p = this.pos;
      this.pos += n;
      return latin1(this.u8, this.buf, p, n);
    }
    if (t === T_UTF8) {
      const n = this.u32();
      this.need(n);
      const p = this.pos;
      this.pos += n;
      return this.buf.utf8Slice(p, p + n);
    }
    if (t === T_UTF16) {
      const n = this.u32();
      this.need(n * 2);
      const p = this.pos;
      this.pos += n * 2;
      return this.buf.ucs2Slice(p, p + n * 2);
    }
    throw new Error('malformed message record');
  }
}

// Short strings are built in JavaScript: cheaper than a call into C++.
function latin1(u8, buf, p, n) {
  switch (n) {
    case 0: return '';
    case 1: return fromCharCode(u8[p]);
    case 2: return fromCharCode(u8[p], u8[p + 1]);
    case 3: return fromCharCode(u8[p], u8[p + 1], u8[p + 2]);
    case 4: return fromCharCode(u8[p], u8[p + 1], u8[p + 2], u8[p + 3]);
    case 5: return fromCharCode(u8[p], u8[p + 1], u8[p + 2], u8[p + 3], u8[p + 4]);
    case 6: return fromCharCode(u8[p], u8[p + 1], u8[p + 2], u8[p + 3], u8[p + 4], u8[p + 5]);
    case 7:
      return fromCharCode(u8[p], u8[p + 1], u8[p + 2], u8[p + 3], u8[p + 4], u8[p + 5], u8[p + 6]);
    case 8:
      return fromCharCode(u8[p], u8[p + 1], u8[p + 2], u8[p + 3], u8[p + 4], u8[p + 5], u8[p + 6],
                          u8[p + 7]);
    default:
      if (n <= 12) {
        let s = fromCharCode(u8[p], u8[p + 1], u8[p + 2], u8[p + 3], u8[p + 4], u8[p + 5],
                             u8[p + 6], u8[p + 7]);
        for (let i = p + 8; i < p + n; i++) s += fromCharCode(u8[i]);
        return s;
      }
      return buf.latin1Slice(p, p + n);
  }
}

// Copy a small record of `len` bytes between Int32Array views, from byte
// `from` of `src` to byte `at` of `dst` (both 4-aligned), as whole words:
// records are padded to 4, and for a few dozen bytes this beats making a
// view to copy from.
const SMALL_RECORD = 256;
function copyWords(dst, at, src, from, len) {
  const d0 = at >> 2;
  const s0 = from >> 2;
  for (let i = 0, w = (len + 3) >> 2; i < w; i++) dst[d0 + i] = src[s0 + i];
}

module.exports = { Encoder, Decoder, TAG_VALUE, SMALL_RECORD, copyWords };
