'use strict';

// Run and wait times of a pool, as piscina reports them: Node's
// RecordableHistogram in microseconds, summarised in milliseconds.

const { createHistogram } = require('perf_hooks');

const PERCENTILES = [
  ['p0_001', 0.001], ['p0_01', 0.01], ['p0_1', 0.1], ['p1', 1], ['p2_5', 2.5], ['p10', 10],
  ['p25', 25], ['p50', 50], ['p75', 75], ['p90', 90], ['p97_5', 97.5], ['p99', 99],
  ['p99_9', 99.9], ['p99_99', 99.99], ['p99_999', 99.999],
];

function summary(h) {
  const out = {
    average: h.mean / 1000,
    mean: h.mean / 1000,
    stddev: h.stddev / 1000,
    min: h.min / 1000,
    max: h.max / 1000,
  };
  for (const [key, p] of PERCENTILES) out[key] = h.percentile(p) / 1000;
  return out;
}

// Milliseconds -> the histogram's integer microseconds (at least 1).
function record(h, ms) {
  h.record(Math.max(1, Math.trunc(ms * 1000)));
}

// ThreadPool's stats times ({ count, min, max, mean, p50, p90, p99 } in ms)
// of a histogram; all 0 when it is empty or there is none.
function times(h) {
  if (h === null || h.count === 0) return { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0 };
  return {
    count: h.count,
    min: h.min / 1000,
    max: h.max / 1000,
    mean: h.mean / 1000,
    p50: h.percentile(50) / 1000,
    p90: h.percentile(90) / 1000,
    p99: h.percentile(99) / 1000,
  };
}

module.exports = { createHistogram, summary, record, times };
