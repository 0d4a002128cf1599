/**
 * `cim bench --kill-cmd`: how the failover scenario kills a server of a deployment it did not start
 * (e.g. `kubectl delete pod --grace-period=0 --force …`). The command runs in a shell with the victim's
 * address in $CIM_BENCH_VICTIM and must exit 0 once the server is dead.
 */
import { spawn } from 'node:child_process';

export function runKillCommand(command: string, victim: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { env: { ...process.env, CIM_BENCH_VICTIM: victim }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`--kill-cmd exited with ${signal ?? code} (victim ${victim})`))));
  });
}
