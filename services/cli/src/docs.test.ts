/** The README's configuration tables must list every option, and nothing that does not exist. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { routeOptionSpecs } from '../../route/src/config.ts';
import { serverOptionSpecs } from '../../server/src/config.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const env = (name: string) => `CIM_${kebab(name).replaceAll('-', '_').toUpperCase()}`;

describe('README configuration tables', () => {
  it.each([
    ['cim server', serverOptionSpecs],
    ['cim route', routeOptionSpecs],
  ] as const)('document every %s option with its flag and variable', (title, specs) => {
    const section = readme.split(`| \`${title}\` flag |`)[1]?.split('\n\n')[0] ?? '';
    expect(section, `README has no table for ${title}`).not.toBe('');
    for (const name of Object.keys(specs)) {
      expect(section).toContain(`| \`--${kebab(name)}\` | \`${env(name)}\` |`);
    }
    const documented = [...section.matchAll(/^\| `--([a-z-]+)`/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(specs).map(kebab).sort());
  });
});
