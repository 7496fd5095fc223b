// The entries imported from an ES module (node16/nodenext resolve the
// "import" condition; the names are those of require()).
import nw, { RingBuffer, ThreadPool } from 'native-workers';
import { Worker } from 'native-workers/worker_threads';
import { spawn } from 'native-workers/child_process';

const rb: RingBuffer = new nw.RingBuffer(64);
const pool: ThreadPool = new ThreadPool();
const w: typeof Worker = Worker;
const s: typeof spawn = spawn;
// @ts-expect-error no such export
import { NotThere } from 'native-workers';

void [rb, pool, w, s, NotThere];
