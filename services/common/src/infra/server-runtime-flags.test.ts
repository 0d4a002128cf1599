import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_OPTIONS } from './server-runtime-flags.ts';

describe('SERVER_NODE_OPTIONS', () => {
  it('is what the server image runs with', () => {
    const dockerfile = readFileSync(new URL('../../../../Dockerfile.server', import.meta.url), 'utf8');
    expect(dockerfile).toContain(`ENV NODE_OPTIONS="${SERVER_NODE_OPTIONS}"`);
  });
});
