// Typed use of native-workers/child_process: Node's own declarations.
import { spawn, exec, execFile, fork, spawnSync, execSync, execFileSync, ChildProcess } from 'native-workers/child_process';
import type { SpawnOptions, ForkOptions } from 'native-workers/child_process';
import { promisify } from 'util';

const so: SpawnOptions = { cwd: '/tmp', stdio: ['ignore', 'pipe', 'inherit'] };
const ls = spawn('ls', ['-l'], so);
ls.on('close', (code: number | null, signal: NodeJS.Signals | null) => void [code, signal]);
const child: ChildProcess = ls;
const out: string = execSync('echo hi', { encoding: 'utf8' });
const buf: Buffer = execFileSync('echo', ['hi']);
const r = spawnSync('true');
const status: number | null = r.status;
exec('ls', (err, stdout: string, stderr: string) => void [err, stdout, stderr]);
const fo: ForkOptions = { serialization: 'advanced', execArgv: [] };
const f = fork('./child.js', [], fo);
f.send({ hello: 'world' });

async function main(): Promise<void> {
  const { stdout } = await promisify(execFile)('uname', ['-s']);
  const s: string = stdout;
  void s;
}

// @ts-expect-error spawn needs a command
spawn();
// @ts-expect-error serialization is 'json' or 'advanced'
fork('./child.js', [], { serialization: 'yaml' });
// @ts-expect-error execSync with an encoding gives a string
const notBuf: Buffer = execSync('echo', { encoding: 'utf8' });

void [child, out, buf, status, main, notBuf];
