'use strict';

// The system errors the addon builds in C look like Node's own and like the
// package's errnoException: message "<syscall> <CODE>", errno, code and
// syscall, in that order. And the package's addon carries no test code.

const assert = require('assert');
const os = require('os');
const util = require('util');
const binding = require('../lib/internal/binding');
const testing = require('./support/testing_binding');
const { errnoException } = require('../lib/internal/errors');

describe('native system errors', () => {
  it('match errnoException for the errnos libuv names', () => {
    for (const name of ['ENOENT', 'EACCES', 'EAGAIN', 'EBADF', 'EINVAL', 'EPIPE', 'ENOMEM', 'ENOTSUP']) {
      const errno = -os.constants.errno[name];
      const ours = testing.errnoError(errno, 'spawn');
      const js = errnoException(errno, 'spawn');
      assert.ok(ours instanceof Error);
      assert.strictEqual(ours.message, js.message);
      assert.deepStrictEqual(Object.keys(ours), ['errno', 'code', 'syscall']);
      assert.deepStrictEqual({ ...ours }, { ...js });
      assert.strictEqual(ours.code, util.getSystemErrorName(errno));
    }
  });

  it('name an errno libuv does not know as glibc does, never with strerror text', () => {
    const e = testing.errnoError(-os.constants.errno.EDOM, 'kernel');
    assert.strictEqual(e.message, 'kernel EDOM');
    assert.strictEqual(e.code, 'EDOM');
    assert.strictEqual(e.errno, -os.constants.errno.EDOM);
    assert.strictEqual(testing.errnoError(os.constants.errno.EDOM, 'kernel').errno, e.errno);
  });

  it('are what a failing binding call throws', () => {
    assert.throws(() => binding.channelCreate(0), (err) => {
      assert.deepStrictEqual({ ...err }, { ...errnoException(-os.constants.errno.EINVAL, 'memfd_create') });
      assert.strictEqual(err.message, 'memfd_create EINVAL');
      return true;
    });
  });

  it('the package addon has no test-only entry points', () => {
    assert.strictEqual(binding._testing, undefined);
    for (const name of Object.keys(testing)) assert.strictEqual(binding[name], undefined, name);
  });
});
