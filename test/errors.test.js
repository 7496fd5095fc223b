'use strict';

const assert = require('assert');

describe('errors print as Node\'s', () => {
  it('String(err) and the first line of err.stack carry the code; own properties as Node\'s', () => {
    const nodeCp = require('child_process');
    const ours = require('../lib/child_process');
    const { RingBuffer } = require('..');
    const cases = [
      [() => nodeCp.spawn('x', { timeout: -1 }), () => ours.spawn('x', { timeout: -1 })],
      [() => nodeCp.spawn(5), () => ours.spawn(5)],
      [() => nodeCp.fork('x', { serialization: 'bad' }), () => ours.fork('x', { serialization: 'bad' })],
    ];
    const seen = (f) => {
      try { f(); } catch (e) {
        return { str: String(e), head: e.stack.split('\n')[0], name: e.name, ctor: e.constructor.name,
          keys: Object.keys(e), own: Object.getOwnPropertyNames(e).sort(), proto: e instanceof Error };
      }
      return null;
    };
    for (const [theirs, mine] of cases) assert.deepStrictEqual(seen(mine), seen(theirs));
    const e = seen(() => new RingBuffer(0));
    assert.match(e.str, /^RangeError \[ERR_OUT_OF_RANGE\]: /);
    assert.strictEqual(e.head, e.str);
    assert.throws(() => new RingBuffer('x'), /ERR_INVALID_ARG_TYPE/);
  });
});

// The same arguments through Node's own error constructors (reachable with
// --expose-internals in a child) and through ours: the messages must match.
describe('error messages are Node\'s, word for word', () => {
  const { execFileSync } = require('child_process');
  const cases = `[
    ['ERR_INVALID_ARG_TYPE', 'port', 'MessagePort', null],
    ['ERR_INVALID_ARG_TYPE', 'options', 'Object', undefined],
    ['ERR_INVALID_ARG_TYPE', 'x', ['string', 'Buffer', 'TypedArray', 'DataView'], 5],
    ['ERR_INVALID_ARG_TYPE', 'x', ['string', 'Buffer'], true],
    ['ERR_INVALID_ARG_TYPE', 'x', 'Function', () => {}],
    ['ERR_INVALID_ARG_TYPE', 'x', 'function', function foo() {}],
    ['ERR_INVALID_ARG_TYPE', 'a.b', ['object', 'Function'], Symbol('s')],
    ['ERR_INVALID_ARG_TYPE', 'a.b', ['Object', 'Function', 'MessagePort'], 1],
    ['ERR_INVALID_ARG_TYPE', 'x', ['object', 'MessagePort'], 1],
    ['ERR_INVALID_ARG_TYPE', 'x', ['string', 'number', 'boolean'], {}],
    ['ERR_INVALID_ARG_TYPE', 'x', 'string', "it's a long string of more than 28"],
    ['ERR_INVALID_ARG_TYPE', 'x', 'string', 'a long string of more than 28 characters'],
    ['ERR_INVALID_ARG_TYPE', 'x', 'number', -0],
    ['ERR_INVALID_ARG_TYPE', 'x', 'number', NaN],
    ['ERR_INVALID_ARG_TYPE', 'x', 'Object', Object.create(null)],
    ['ERR_INVALID_ARG_TYPE', 'x', 'number', 10n],
    ['ERR_INVALID_ARG_TYPE', 'x', 'Object', new Map()],
    ['ERR_INVALID_ARG_TYPE', 'x', 'Object', []],
    ['ERR_INVALID_ARG_TYPE', 'first argument', 'string', 1],
    ['ERR_INVALID_ARG_TYPE', 'x', ['Object', 'null'], 1],
    ['ERR_INVALID_ARG_TYPE', 'x', 'AbortSignal', 'nope'],
    ['ERR_OUT_OF_RANGE', 'x', '>= 0', 2 ** 40],
    ['ERR_OUT_OF_RANGE', 'x', '>= 0', -(2 ** 40)],
    ['ERR_OUT_OF_RANGE', 'x', '>= 0', 'str'],
    ['ERR_OUT_OF_RANGE', 'x', '>= 0', 2n ** 40n],
    ['ERR_OUT_OF_RANGE', 'x', '>= 0', 5n],
    ['ERR_OUT_OF_RANGE', 'x', '>= 0', -1.5],
    ['ERR_OUT_OF_RANGE', 'x', 'an integer', 1.5],
    ['ERR_OUT_OF_RANGE', 'x', '>= 0', NaN],
    ['ERR_SOCKET_BAD_PORT', 'Port', 'abc', true],
    ['ERR_SOCKET_BAD_PORT', 'options.port', 70000, false],
    ['ERR_INVALID_ARG_VALUE', 'x.y', { a: 1 }],
    ['ERR_INVALID_ARG_VALUE', 'x', 'abc', 'must be one of: \\'a\\', \\'b\\''],
    ['ERR_INVALID_ARG_VALUE', 'x', 'z'.repeat(200)],
  ]`;
  const messages = (make) => `(${cases}).map(([code, ...args]) => ${make}.message)`;

  it('for every shape of argument the validators meet', () => {
    const node = JSON.parse(execFileSync(process.execPath, ['--expose-internals', '-p',
      `const codes = require('internal/errors').codes; JSON.stringify(${messages('new codes[code](...args)')})`], { encoding: 'utf8' }));
    const ourCodes = require('../lib/internal/errors').codes;
    // eslint-disable-next-line no-eval
    const ours = eval(messages('ourCodes[code](...args)'));
    assert.strictEqual(ours.length, node.length);
    for (let i = 0; i < node.length; i++) assert.strictEqual(ours[i], node[i]);
  });
});
