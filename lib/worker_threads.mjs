import cjs from './worker_threads.js';

export const {
  Worker,
  MessageChannel,
  MessagePort,
  receiveMessageOnPort,
  isMainThread,
  parentPort,
  workerData,
  threadId,
  resourceLimits,
  SHARE_ENV,
  setEnvironmentData,
  getEnvironmentData,
  markAsUntransferable,
  moveMessagePortToContext,
  BroadcastChannel,
  postMessageToThread,
} = cjs;
export default cjs;
