'use strict';

// SCHED_NONE, and every UDP socket: the primary binds the address and
// gives each worker a copy of the bound descriptor; the workers listen (or
// receive) on it themselves and the kernel balances between them. The
// primary's copy never listens or reads.

const net = require('net');
const dgram = require('dgram');

const { dgramHandle } = require('../ipc/handles');

const UV_UDP_IPV6ONLY = 1;
const UV_UDP_REUSEADDR = 4;

class SharedHandle {
  constructor(key, address, { port, addressType, fd, flags }) {
    this.key = key;
    this.members = new Set();
    this.handle = null;
    this.socket = null; // the dgram.Socket that bound a UDP handle
    this.errno = 0;
    this.ready = []; // add() calls waiting for a UDP bind

    if (addressType === 'udp4' || addressType === 'udp6') {
      this.bindUdp(address, port, addressType, fd, flags);
      return;
    }
    // Bound, not listening: each worker listens on its copy.
    const rval = net._createServerHandle(address, port, addressType, fd, flags);
    if (typeof rval === 'number') this.errno = rval;
    else this.handle = rval;
  }

  bindUdp(address, port, type, fd, flags) {
    const socket = dgram.createSocket({
      type,
      reuseAddr: (flags & UV_UDP_REUSEADDR) !== 0,
      ipv6Only: (flags & UV_UDP_IPV6ONLY) !== 0,
    });
    this.socket = socket;
    socket.once('error', (err) => {
      this.errno = typeof err.errno === 'number' ? err.errno : -22;
      this.socket = null;
      socket.close();
      this.settle();
    });
    const options = fd >= 0 ? { fd, exclusive: true } : { port, address, exclusive: true };
    socket.bind(options, () => {
      const raw = dgramHandle(socket);
      // dgram starts reading at once; the workers are the readers.
      raw.recvStop();
      this.handle = raw;
      this.settle();
    });
  }

  settle() {
    const ready = this.ready;
    this.ready = [];
    for (const fn of ready) fn();
  }

  add(worker, link, reply) {
    this.members.add(worker);
    const answer = () => reply(this.errno, null, this.errno === 0 ? this.handle : null);
    if (this.handle !== null || this.errno !== 0) answer();
    else this.ready.push(answer);
  }

  remove(worker) {
    if (!this.members.delete(worker)) return false;
    if (this.members.size !== 0) return false;
    if (this.socket !== null) this.socket.close();
    else if (this.handle !== null) this.handle.close();
    this.socket = null;
    this.handle = null;
    return true;
  }
}

module.exports = { SharedHandle };
