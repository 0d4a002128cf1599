import { describe, expect, it } from 'vitest';
import { HelpRequested, OptionsError, parseOptions } from './options.ts';

const specs = {
  port: { type: 'int', default: 8083, min: 0, max: 65535, description: 'port' },
  zkConnect: { type: 'string', default: '127.0.0.1:2181', description: 'zk' },
  strategy: { type: 'string', default: 'round-robin', choices: ['round-robin', 'random'], description: 'strategy' },
  embedded: { type: 'boolean', default: false, description: 'embedded' },
  secret: { type: 'string', optional: true, description: 'secret' },
  servers: { type: 'list', default: [], description: 'servers' },
} as const;

describe('options', () => {
  it('reads flags first, then CIM_ variables, then defaults', () => {
    const { options } = parseOptions(specs, ['--port', '9000', '--embedded'], { CIM_PORT: '1', CIM_ZK_CONNECT: 'zk:2181', CIM_SERVERS: 'a, b' });
    expect(options).toEqual({ port: 9000, zkConnect: 'zk:2181', strategy: 'round-robin', embedded: true, servers: ['a', 'b'] });
  });

  it('accepts --flag=value, --no-flag and positionals', () => {
    const { options, positionals } = parseOptions(specs, ['--port=1', '--no-embedded', 'extra'], { CIM_EMBEDDED: 'true' });
    expect(options.port).toBe(1);
    expect(options.embedded).toBe(false);
    expect(positionals).toEqual(['extra']);
  });

  it('reports every problem at once', () => {
    try {
      parseOptions(specs, ['--port', 'abc', '--strategy', 'nope', '--bogus', '1'], { CIM_EMBEDDED: 'maybe' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(OptionsError);
      expect((err as OptionsError).problems).toEqual([
        'unknown option --bogus',
        '--port: "abc" is not an integer',
        '--strategy: "nope" is not one of round-robin, random',
        '--embedded: "maybe" is not a boolean',
      ]);
    }
    expect(() => parseOptions(specs, ['--port', '70000'], {})).toThrow(/above 65535/);
  });

  it('renders help with every option and its environment variable', () => {
    try {
      parseOptions(specs, ['--help'], {}, { command: 'cim route', summary: 'the route' });
      expect.unreachable();
    } catch (err) {
      const text = (err as HelpRequested).text;
      expect(text).toContain('Usage: cim route [options]');
      expect(text).toMatch(/--zk-connect <string>\s+CIM_ZK_CONNECT\s+zk \(default: 127.0.0.1:2181\)/);
      expect(text).toMatch(/--strategy <string>\s+CIM_STRATEGY\s+strategy \[round-robin\|random\]/);
    }
  });
});
