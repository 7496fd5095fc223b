// native-workers/child_process mirrors node:child_process (Node 20): the
// same signatures, options, events and error objects, so it reuses Node's
// own declarations. fork() comes with the fork channel.
export {
  ChildProcess,
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
} from 'child_process';
