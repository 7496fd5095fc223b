// native-workers/child_process mirrors node:child_process (Node 20): the
// same signatures, options, events and error objects, so it reuses Node's
// own declarations. fork() runs its IPC over the shared-memory channel.
export {
  ChildProcess,
  fork,
  spawn,
  exec,
  execFile,
  spawnSync,
  execSync,
  execFileSync,
} from 'child_process';

export type {
  SpawnOptions,
  SpawnOptionsWithoutStdio,
  SpawnOptionsWithStdioTuple,
  SpawnSyncOptions,
  SpawnSyncOptionsWithBufferEncoding,
  SpawnSyncOptionsWithStringEncoding,
  SpawnSyncReturns,
  ExecOptions,
  ExecException,
  ExecFileOptions,
  ExecSyncOptions,
  ExecFileSyncOptions,
  ChildProcessWithoutNullStreams,
  ChildProcessByStdio,
  StdioOptions,
  Serializable,
  SendHandle,
  ForkOptions,
  MessageOptions,
} from 'child_process';
