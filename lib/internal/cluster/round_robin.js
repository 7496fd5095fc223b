'use strict';

// SCHED_RR: the primary listens, accepts, and hands each connection to a
// worker ({ act: 'newconn' } with the connection's raw handle). The worker
// answers { accepted } before it reads a byte; the primary closes its own
// copy of the descriptor only then, so a connection whose worker dies (or
// refuses it, being over maxConnections or closing) before answering goes
// to another worker instead of being lost.
//
// Unlike Node's, which waits for each answer before it hands the same
// worker another connection, up to DEPTH handoffs per worker are in flight
// at once: the descriptor is in the kernel's queue when send() returns, so
// a burst of connections costs the primary no round trip each. The worker
// with the fewest in flight gets the next one; ties go round the ring.

const net = require('net');

const DEPTH = 4;
const UV_TCP_IPV6ONLY = 1;

class RoundRobinHandle {
  // `query`: the worker's queryServer message (port, fd, flags, backlog,
  // readableAll, writableAll).
  constructor(key, address, query) {
    this.key = key;
    this.members = []; // { worker, link, inflight }
    this.turn = 0; // where the search for the next worker starts
    this.queue = []; // accepted connections that wait for a worker
    this.handle = null; // the listening handle, once bound
    this.errno = 0; // the bind's error
    this.ready = []; // add() calls waiting for the bind
    this.closed = false;

    const server = net.createServer();
    const options = { exclusive: true };
    if (query.fd >= 0) {
      options.fd = query.fd;
    } else if (query.port >= 0) {
      options.port = query.port;
      options.host = address;
      options.ipv6Only = (query.flags & UV_TCP_IPV6ONLY) !== 0;
    } else {
      options.path = address;
      if (query.readableAll) options.readableAll = true;
      if (query.writableAll) options.writableAll = true;
    }
    if (typeof query.backlog === 'number') options.backlog = query.backlog;
    server.once('listening', () => {
      // Keep the bare handle; the server object has done its job.
      this.handle = server._handle;
      server._handle = null;
      if (this.closed) {
        this.handle.close();
        this.handle = null;
      } else {
        this.handle.onconnection = (err, client) => this.onConnection(err, client);
      }
      this.settle();
    });
    server.once('error', (err) => {
      this.errno = typeof err.errno === 'number' ? err.errno : -22;
      this.settle();
    });
    server.listen(options);
  }

  settle() {
    const ready = this.ready;
    this.ready = [];
    for (const fn of ready) fn();
  }

  // `reply(errno, fields, handle)` answers the worker's queryServer.
  add(worker, link, reply) {
    // gone: its channel closed (its 'disconnect' removes it soon).
    const member = { worker, link, inflight: 0, gone: false };
    this.members.push(member);
    const answer = () => {
      if (this.errno !== 0) {
        reply(this.errno, null, null);
        return;
      }
      let fields = null;
      if (this.handle !== null && typeof this.handle.getsockname === 'function') {
        const sockname = {};
        this.handle.getsockname(sockname);
        fields = { sockname };
      }
      reply(null, fields, null);
      this.pump(); // connections may be waiting already
    };
    if (this.handle !== null || this.errno !== 0) answer();
    else this.ready.push(answer);
  }

  // The worker no longer takes connections here. True when it was the
  // last one and the handle is closed. Handoffs in flight to it are
  // settled by its answers, or by the end of its channel.
  remove(worker) {
    const i = this.members.findIndex((m) => m.worker === worker);
    if (i === -1) return false;
    this.members.splice(i, 1);
    if (this.members.length !== 0) return false;
    this.close();
    return true;
  }

  close() {
    this.closed = true;
    for (const client of this.queue) client.close();
    this.queue = [];
    if (this.handle !== null) {
      this.handle.close();
      this.handle = null;
    }
  }

  onConnection(err, client) {
    if (err !== 0 || !client) return;
    this.queue.push(client);
    this.pump();
  }

  pump() {
    while (this.queue.length !== 0) {
      const member = this.pick();
      if (member === null) return;
      this.handoff(member, this.queue.shift());
    }
  }

  // The member with the fewest handoffs in flight (below DEPTH), or null.
  pick() {
    const members = this.members;
    const n = members.length;
    let best = -1;
    for (let k = 0; k < n; k++) {
      const i = (this.turn + k) % n;
      const inflight = members[i].inflight;
      if (!members[i].gone && inflight < DEPTH && (best === -1 || inflight < members[best].inflight)) {
        best = i;
        if (inflight === 0) break;
      }
    }
    if (best === -1) return null;
    this.turn = best + 1;
    return members[best];
  }

  handoff(member, client) {
    member.inflight++;
    const sent = member.link.send({ act: 'newconn', key: this.key }, client, (reply) => {
      member.inflight--;
      if (reply !== null && reply.accepted) client.close();
      else this.requeue(client);
      this.pump();
    });
    if (!sent) {
      member.inflight--;
      member.gone = true;
      this.requeue(client);
    }
  }

  // A connection the worker did not take: first in line for the others.
  requeue(client) {
    if (this.closed) client.close();
    else this.queue.unshift(client);
  }
}

module.exports = { RoundRobinHandle };
