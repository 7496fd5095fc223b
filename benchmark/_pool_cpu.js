'use strict';
// A CPU-bound task of about `n` ms on this machine's speed (calibrated by
// benchmark/pool.js): integer work the JIT cannot drop.
module.exports = ({ iters, seed }) => {
  let h = seed | 0;
  for (let i = 0; i < iters; i++) h = Math.imul(h ^ i, 0x9e3779b1) + 7 | 0;
  return h;
};
