/** helm and kubectl from the cached tools directory, run offline with scratch HELM_* homes. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './control-plane.ts';

const run = promisify(execFile);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(file: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<RunResult> {
  const p = run(file, args, { env, cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  if (input !== undefined) {
    p.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await p;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** Runs helm with a scratch HOME and HELM_* dirs (removed afterwards) and no cluster. */
export async function helm(binDir: string, args: string[]): Promise<RunResult> {
  const home = mkdtempSync(join(tmpdir(), 'cim-e2e-helm-'));
  try {
    return await exec(join(binDir, 'helm'), args, {
      PATH: process.env['PATH'],
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
      KUBECONFIG: join(home, 'no-cluster'),
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

export function kubectl(binDir: string, kubeconfigPath: string, args: string[], input?: string): Promise<RunResult> {
  // kubectl caches discovery under $HOME/.kube; a fresh HOME per call keeps runs independent.
  const home = mkdtempSync(join(tmpdir(), 'cim-e2e-kubectl-'));
  return exec(join(binDir, 'kubectl'), args, { PATH: process.env['PATH'], HOME: home, KUBECONFIG: kubeconfigPath }, input).finally(() =>
    rmSync(home, { recursive: true, force: true }),
  );
}

export const CHART_DIR = join(REPO_ROOT, 'charts/cim-operator');
export const RELEASE = 'cim-operator';
