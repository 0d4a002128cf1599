/**
 * Runs `cim operator` (operator/src/main.ts, through Node's type stripping) as a child process with the operator's
 * own kubeconfig: the chart's ServiceAccount identity and nothing more.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, OPERATOR_NAMESPACE } from './control-plane.ts';
import { freePort, startProcess, waitFor, WaitAborted, type Proc } from './processes.ts';
import { RELEASE } from './tools.ts';

export interface OperatorProcess extends Proc {
  identity: string;
  httpPort: number;
  metrics(): Promise<string>;
  logLines(): Record<string, unknown>[];
}

const ENTRY =
  "import(process.env.CIM_E2E_OPERATOR_MAIN).then((m) => m.main(process.argv.slice(1), process.env))" +
  '.then((code) => process.exit(code), (err) => { console.error(err); process.exit(70); });';

export async function startOperator(opts: {
  kubeconfig: string;
  logDir: string;
  identity: string;
  extraArgs?: string[];
}): Promise<OperatorProcess> {
  const httpPort = await freePort();
  const proc = startProcess(
    `operator-${opts.identity}`,
    process.execPath,
    [
      '-e',
      ENTRY,
      '--',
      `--kubeconfig=${opts.kubeconfig}`,
      '--host=127.0.0.1',
      `--http-port=${httpPort}`,
      `--identity=${opts.identity}`,
      `--lease-namespace=${OPERATOR_NAMESPACE}`,
      `--lease-name=${RELEASE}`,
      // Short leases keep failover tests quick (takeover after a SIGKILL within ~5 s).
      '--lease-duration=5',
      '--renew-deadline=4',
      '--retry-period=0.5',
      '--resync-period=30',
      '--log-level=debug',
      ...(opts.extraArgs ?? []),
    ],
    {
      logDir: opts.logDir,
      env: {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        CIM_E2E_OPERATOR_MAIN: join(REPO_ROOT, 'operator/src/main.ts'),
      },
    },
  );
  const logLines = () =>
    readFileSync(proc.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  const metrics = async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  await waitFor(
    `operator ${opts.identity} /healthz`,
    async () => {
      if (proc.exitCode() !== undefined) throw new WaitAborted(`operator exited with ${proc.exitCode()}:\n${proc.tail()}`);
      return (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok;
    },
    { timeoutMs: 30_000, describe: () => proc.tail() },
  ).catch(async (err: unknown) => {
    await proc.kill();
    throw err;
  });
  return { ...proc, identity: opts.identity, httpPort, metrics, logLines };
}
