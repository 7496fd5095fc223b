'use strict';

// A small HTTP/1.1 load generator for benchmark/cluster.js, run as its own
// process: `node _loadgen.js <port> <close|keepalive> <connections> <ms>`.
// 'close': each of <connections> loops connects, sends one request with
// Connection: close, reads the response to the end, and starts again (one
// request per connection). 'keepalive': <connections> persistent
// connections, one request outstanding on each. Prints one line of JSON:
// { done, errors, seconds, rate, p50, p99 } (latencies in ms).

const net = require('net');

const [port, mode, conns, ms] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const keepAlive = mode === 'keepalive';
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
  `${keepAlive ? '' : 'Connection: close\r\n'}\r\n`);

const latencies = [];
let done = 0;
let errors = 0;
let stopping = false;
let started = 0;
let running = 0;

// Complete responses at the start of `buf`: how many bytes they take.
function responsesEnd(buf, from) {
  let pos = from;
  let count = 0;
  for (;;) {
    const head = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (head === -1) break;
    const headers = buf.toString('latin1', pos, head).toLowerCase();
    const m = /content-length:\s*(\d+)/.exec(headers);
    const len = m === null ? 0 : Number(m[1]);
    if (buf.length < head + 4 + len) break;
    pos = head + 4 + len;
    count++;
  }
  return { pos, count };
}

function closeLoop() {
  if (stopping) return finishOne();
  const t0 = process.hrtime.bigint();
  const sock = net.connect(port, '127.0.0.1');
  let got = 0;
  sock.on('connect', () => sock.write(REQUEST));
  sock.on('data', (d) => { got += d.length; });
  sock.on('error', () => { errors++; });
  sock.on('close', (hadError) => {
    if (!hadError && got > 0) {
      done++;
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    } else if (!hadError) {
      errors++;
    }
    setImmediate(closeLoop);
  });
}

function keepAliveLoop() {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let t0 = 0n;
  const fire = () => {
    if (stopping) {
      sock.destroy();
      finishOne();
      return;
    }
    t0 = process.hrtime.bigint();
    sock.write(REQUEST);
  };
  sock.on('connect', fire);
  sock.on('data', (d) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    const { pos, count } = responsesEnd(buf, 0);
    if (count === 0) return;
    buf = buf.subarray(pos);
    done += count;
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    fire();
  });
  sock.on('error', () => { errors++; });
  sock.on('close', () => { if (!stopping) { errors++; finishOne(); } });
}

function finishOne() {
  if (--running !== 0) return;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  process.stdout.write(`${JSON.stringify({ done, errors, seconds, rate: done / seconds, p50: q(0.5), p99: q(0.99) })}\n`);
}

started = process.hrtime.bigint();
running = conns;
for (let i = 0; i < conns; i++) (keepAlive ? keepAliveLoop : closeLoop)();
setTimeout(() => { stopping = true; }, ms);
