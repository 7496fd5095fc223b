// Typed use of native-workers/worker_threads, as one would use
// node:worker_threads; the two mix where Node's API allows it.
import * as nodeWT from 'worker_threads';
import {
  Worker, MessageChannel, MessagePort, isMainThread, parentPort, workerData, threadId,
  receiveMessageOnPort, SHARE_ENV, setEnvironmentData, getEnvironmentData,
} from 'native-workers/worker_threads';
import type { WorkerOptions, TransferListItem } from 'native-workers/worker_threads';

const options: WorkerOptions = { workerData: { n: 1 }, env: SHARE_ENV, name: 'w', argv: [1, 'a'] };
const w = new Worker(new URL('file:///tmp/w.js'), options);
w.on('message', (m: unknown) => void m).on('exit', (code: number) => void code);
w.postMessage({ a: 1 });
const exited: Promise<number> = w.terminate();

// SHARE_ENV is Node's own: it fits Node's Worker too.
const nodeEnv: nodeWT.WorkerOptions['env'] = SHARE_ENV;
const sameSymbol: typeof nodeWT.SHARE_ENV = SHARE_ENV;

const { port1, port2 } = new MessageChannel();
const list: TransferListItem[] = [port2, new ArrayBuffer(8)];
port1.postMessage({ port: port2 }, list);
const got: { message: any } | undefined = receiveMessageOnPort(port1);
const p: MessagePort | null = parentPort;
if (!isMainThread && p) p.postMessage(workerData);
setEnvironmentData('k', 1);
const env: any = getEnvironmentData('k');
const id: number = threadId;

// @ts-expect-error a Worker needs its file
new Worker();
// @ts-expect-error env is a dictionary or SHARE_ENV
new Worker('w.js', { env: 42 });
// @ts-expect-error terminate() resolves the exit code, a number
const badExit: Promise<string> = w.terminate();
// @ts-expect-error MessagePort is not constructed by users
new MessagePort();

void [exited, nodeEnv, sameSymbol, got, env, id, badExit];
