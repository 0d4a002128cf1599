/**
 * The commands a user types against the cluster: kubectl and helm with the admin kubeconfig (scratch HOME and
 * HELM_* dirs per call), ctr inside the node. Each returns its output and fails with it when the exit code is not 0.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../e2e/harness/control-plane.ts';

export interface Cli {
  kubectl(args: string[], opts?: { input?: string; allowFail?: boolean; timeoutMs?: number }): Promise<string>;
  helm(args: string[], opts?: { timeoutMs?: number }): Promise<string>;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, input: string | undefined, timeoutMs: number): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env, cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export function cliFor(binDir: string, kubeconfig: string): Cli {
  const withHome = async (file: string, args: string[], input: string | undefined, timeoutMs: number, allowFail: boolean) => {
    const home = mkdtempSync(join(tmpdir(), 'cim-e2e-node-cli-'));
    try {
      const env = {
        PATH: process.env['PATH'],
        HOME: home,
        KUBECONFIG: kubeconfig,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
      };
      const r = await run(join(binDir, file), args, env, input, timeoutMs);
      if (r.code !== 0 && !allowFail) throw new Error(`${file} ${args.join(' ')} failed (${r.code}):\n${r.err || r.out}`);
      return r.code === 0 ? r.out : `${r.out}${r.err}`;
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  };
  return {
    kubectl: (args, opts = {}) => withHome('kubectl', args, opts.input, opts.timeoutMs ?? 120_000, opts.allowFail ?? false),
    helm: (args, opts = {}) => withHome('helm', args, undefined, opts.timeoutMs ?? 300_000, false),
  };
}
