import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { CIM_PROTO_JSON } from './cim-proto.ts';
import { Command } from './codec.ts';

const PROTO = fileURLToPath(new URL('../../../proto/cim.proto', import.meta.url));

describe('bundled proto descriptor', () => {
  it('equals what protobufjs parses from proto/cim.proto', () => {
    const parsed = protobuf.parse(readFileSync(PROTO, 'utf8'), { keepCase: true }).root.toJSON();
    expect(CIM_PROTO_JSON, `paste into cim-proto.ts: ${JSON.stringify(parsed)}`).toEqual(parsed);
  });

  it('has the same commands as the codec', () => {
    const values = CIM_PROTO_JSON.nested.com.nested.crossoverjie.nested.cim.nested.common.nested.protocol.nested.BaseCommand.values;
    expect(values).toEqual(Command);
  });
});
