#!/usr/bin/env node
/** The `cim` executable: one binary, one subcommand per component. */

type Main = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Main> }> = {
  server: { summary: 'run a cim-server (client connections, pushes)', load: async () => (await import('../../server/src/main.ts')).main },
  route: { summary: 'run a cim-route (accounts, login, message routing)', load: async () => (await import('../../route/src/main.ts')).main },
  chat: { summary: 'chat from the terminal', load: async () => (await import('../../client/src/cli/main.ts')).main },
  up: { summary: 'run a whole cluster on this machine (Redis, ZooKeeper, 2 servers, 1 route)', load: async () => (await import('./up.ts')).main },
  migrate: { summary: "take over a CIM deployment's Redis data (--from-cim): accounts, offline messages", load: async () => (await import('./migrate.ts')).main },
  bench: { summary: 'measure logins, private messages and group fan-out on this machine', load: async () => (await import('./bench.ts')).main },
  operator: { summary: 'run the Kubernetes operator for CimCluster resources', load: async () => (await import('../../../operator/src/main.ts')).main },
};

function usage(): string {
  const lines = ['Usage: cim <command> [options]   (cim <command> --help for its options)', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  return lines.join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(usage());
    return command === undefined ? 2 : 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    console.error(`unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  return (await entry.load())(rest, process.env);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  },
);
