/** The CRD file is the API contract: the chart ships it unchanged, and api/types.ts mirrors its defaults. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { withDefaults } from './api/types.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const crdText = readFileSync(join(root, 'crds/cimcluster.yaml'), 'utf8');

// loadYaml deserialises into client-node's model classes, which rename `default` to `_default`.
interface Schema {
  type?: string;
  _default?: unknown;
  properties?: Record<string, Schema>;
}

/** Structural defaulting as the API server does it: defaults of absent fields, recursively into objects. */
function applyDefaults(schema: Schema, value: unknown): unknown {
  if (schema.type !== 'object' || !schema.properties || typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [k, s] of Object.entries(schema.properties)) {
    if (out[k] === undefined && s._default !== undefined) out[k] = structuredClone(s._default);
    if (out[k] !== undefined) out[k] = applyDefaults(s, out[k]);
  }
  return out;
}

describe('crds/cimcluster.yaml', () => {
  const crd = loadYaml<{ spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } }>(crdText);
  const specSchema = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!['spec']!;

  it('is shipped byte-identical in the Helm chart', () => {
    expect(readFileSync(join(root, 'charts/cim-operator/crds/cimcluster.yaml'), 'utf8')).toBe(crdText);
  });

  it('has the same defaults as withDefaults()', () => {
    expect(applyDefaults(specSchema, {})).toEqual(withDefaults({}));
  });

  it('keeps user values and fills the rest like withDefaults()', () => {
    const input = { server: { replicas: 5 }, zookeeper: { replicas: 3, storage: { ephemeral: true } }, auth: { secretRef: { name: 's' } } };
    expect(applyDefaults(specSchema, input)).toEqual(withDefaults(input as never));
  });
});
