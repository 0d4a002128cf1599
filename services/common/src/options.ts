/**
 * Command-line options that are also environment variables.
 *
 * Every option of every `cim` subcommand is declared once as an {@link OptionSpec}; `parseOptions`
 * reads `--kebab-name value` / `--kebab-name=value` flags first, then `CIM_UPPER_SNAKE` variables,
 * then the default. It is pure (argv and env are passed in) and reports every problem at once.
 */

export type OptionType = 'string' | 'int' | 'number' | 'boolean' | 'list';

export interface OptionSpec<T extends OptionType = OptionType> {
  readonly type: T;
  readonly description: string;
  /** Default value; omitted means required unless `optional` is set. */
  readonly default?: OptionValue<T>;
  readonly optional?: boolean;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** Environment variable; defaults to CIM_ + the option's name in UPPER_SNAKE_CASE. */
  readonly env?: string;
}

type OptionValue<T extends OptionType> = T extends 'string'
  ? string
  : T extends 'int' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : readonly string[];

export type OptionSpecs = Record<string, OptionSpec>;

export type ParsedOptions<S extends OptionSpecs> = {
  readonly [K in keyof S]: S[K] extends OptionSpec<infer T>
    ? S[K]['default'] extends undefined
      ? S[K]['optional'] extends true
        ? OptionValue<T> | undefined
        : OptionValue<T>
      : OptionValue<T>
    : never;
};

export class OptionsError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'OptionsError';
    this.problems = problems;
  }
}

/** Thrown by parseOptions when --help is given; carries the rendered help text. */
export class HelpRequested extends Error {
  readonly text: string;
  constructor(text: string) {
    super('help requested');
    this.name = 'HelpRequested';
    this.text = text;
  }
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (name: string, spec: OptionSpec): string =>
  spec.env ?? `CIM_${kebab(name).replaceAll('-', '_').toUpperCase()}`;

function convert(name: string, spec: OptionSpec, raw: string, problems: string[]): unknown {
  switch (spec.type) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        problems.push(`--${kebab(name)}: "${raw}" is not one of ${spec.choices.join(', ')}`);
      }
      return raw;
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        problems.push(`--${kebab(name)}: "${raw}" is not ${spec.type === 'int' ? 'an integer' : 'a number'}`);
        return undefined;
      }
      if (spec.min !== undefined && n < spec.min) problems.push(`--${kebab(name)}: ${n} is below ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) problems.push(`--${kebab(name)}: ${n} is above ${spec.max}`);
      return n;
    }
    case 'boolean':
      if (['1', 'true', 'yes', 'on', ''].includes(raw.toLowerCase())) return true;
      if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
      problems.push(`--${kebab(name)}: "${raw}" is not a boolean`);
      return undefined;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
  }
}

export function renderHelp(command: string, summary: string, specs: OptionSpecs): string {
  const lines = [`Usage: ${command} [options]`, '', summary, '', 'Options (each also read from its environment variable):'];
  for (const [name, spec] of Object.entries(specs)) {
    const flag = `--${kebab(name)}${spec.type === 'boolean' ? '' : ` <${spec.type}>`}`;
    const dflt =
      spec.default !== undefined ? ` (default: ${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)})` : spec.optional ? '' : ' (required)';
    const choices = spec.choices ? ` [${spec.choices.join('|')}]` : '';
    lines.push(`  ${flag.padEnd(34)} ${envName(name, spec).padEnd(30)} ${spec.description}${choices}${dflt}`);
  }
  lines.push(`  ${'--help'.padEnd(34)} ${''.padEnd(30)} show this help`);
  return lines.join('\n');
}

export interface ParseResult<S extends OptionSpecs> {
  readonly options: ParsedOptions<S>;
  /** Arguments that are not flags, in order. */
  readonly positionals: readonly string[];
}

export function parseOptions<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  help?: { command: string; summary: string },
): ParseResult<S> {
  const problems: string[] = [];
  const byFlag = new Map<string, string>();
  for (const name of Object.keys(specs)) byFlag.set(kebab(name), name);
  const fromFlags = new Map<string, string>();
  const positionals: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      throw new HelpRequested(renderHelp(help?.command ?? 'cim', help?.summary ?? '', specs));
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const negated = flag.startsWith('no-') && byFlag.has(flag.slice(3));
    const name = byFlag.get(negated ? flag.slice(3) : flag);
    if (name === undefined) {
      problems.push(`unknown option --${flag}`);
      continue;
    }
    const spec = specs[name]!;
    if (spec.type === 'boolean') {
      fromFlags.set(name, negated ? 'false' : eq === -1 ? 'true' : arg.slice(eq + 1));
    } else if (eq !== -1) {
      fromFlags.set(name, arg.slice(eq + 1));
    } else if (i + 1 < argv.length) {
      fromFlags.set(name, argv[++i]!);
    } else {
      problems.push(`--${flag} needs a value`);
    }
  }

  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = fromFlags.get(name) ?? env[envName(name, spec)];
    if (raw !== undefined) out[name] = convert(name, spec, raw, problems);
    else if (spec.default !== undefined) out[name] = spec.default;
    else if (!spec.optional) problems.push(`--${kebab(name)} (or ${envName(name, spec)}) is required`);
  }
  if (problems.length > 0) throw new OptionsError(problems);
  return { options: Object.freeze(out) as ParsedOptions<S>, positionals };
}

export type CommandLine<S extends OptionSpecs> = { readonly ok: true; readonly options: ParsedOptions<S> } | { readonly ok: false; readonly exitCode: number };

/**
 * parseOptions for a command's main(): `--help` prints the help (exit code 0), bad options print
 * every problem (exit code 2); either way the caller returns `exitCode`.
 */
export function parseCommandLine<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  help: { command: string; summary: string },
  io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } } = process,
): CommandLine<S> {
  try {
    return { ok: true, options: parseOptions(specs, argv, env, help).options };
  } catch (err) {
    if (err instanceof HelpRequested) {
      io.stdout.write(`${err.text}\n`);
      return { ok: false, exitCode: 0 };
    }
    if (err instanceof OptionsError) {
      io.stderr.write(`${help.command}: ${err.problems.join('\n  ')}\nTry "${help.command} --help".\n`);
      return { ok: false, exitCode: 2 };
    }
    throw err;
  }
}
