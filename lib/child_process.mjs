import cjs from './child_process.js';

export const {
  ChildProcess,
  exec,
  execFile,
  execFileSync,
  execSync,
  fork,
  spawn,
  spawnSync,
} = cjs;
export default cjs;
