/**
 * `kubectl port-forward` as a user runs it: a local port on 127.0.0.1 into the cluster through the API server and the
 * kubelet. kubectl prints "Forwarding from 127.0.0.1:PORT" once it listens; the port is picked by kubectl (`:REMOTE`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, waitFor, WaitAborted, type Proc } from '../../e2e/harness/processes.ts';

export interface PortForward {
  port: number;
  url: string;
  proc: Proc;
  stop(): Promise<void>;
}

export async function portForward(
  binDir: string,
  kubeconfig: string,
  namespace: string,
  target: string,
  remotePort: number,
  logDir: string,
): Promise<PortForward> {
  const home = mkdtempSync(join(tmpdir(), 'cim-e2e-pf-'));
  const name = `port-forward-${target.replace(/\W+/g, '-')}-${Date.now()}`;
  const proc = startProcess(name, join(binDir, 'kubectl'), ['port-forward', '-n', namespace, '--address', '127.0.0.1', target, `:${remotePort}`], {
    logDir,
    env: { PATH: process.env['PATH'], HOME: home, KUBECONFIG: kubeconfig },
  });
  const port = await waitFor(
    `kubectl port-forward ${target}`,
    () => {
      if (proc.exitCode() !== undefined) throw new WaitAborted(`kubectl port-forward exited:\n${proc.tail(10)}`);
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(proc.tail(20));
      return m ? Number(m[1]) : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, describe: () => proc.tail(10) },
  );
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    proc,
    stop: async () => {
      await proc.stop(5000);
      rmSync(home, { recursive: true, force: true });
    },
  };
}
