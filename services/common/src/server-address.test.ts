import { describe, expect, it } from 'vitest';
import { formatServerAddress, parseServerAddress, parseServerNodeData } from './server-address.ts';

describe('server address', () => {
  it('round-trips CIM node names', () => {
    expect(parseServerAddress('10.0.0.1:11211:8081')).toEqual({ host: '10.0.0.1', tcpPort: 11211, httpPort: 8081 });
    expect(formatServerAddress({ host: '10.0.0.1', tcpPort: 11211, httpPort: 8081 })).toBe('10.0.0.1:11211:8081');
  });

  it.each(['', '10.0.0.1', '10.0.0.1:11211', 'h:0:1', 'h:1:70000', 'h:a:1', ':1:2', '::1:11211:8081'])('rejects %j', (value) => {
    expect(parseServerAddress(value)).toBeUndefined();
  });

  it('reads a published internal (push) port only when it is a valid port', () => {
    expect(parseServerNodeData(Buffer.from('{"internalPort":8082}'))?.internalPort).toBe(8082);
    for (const bad of ['0', '65536', '"8082"', '1.5', 'null']) expect(parseServerNodeData(Buffer.from(`{"internalPort":${bad}}`))).not.toHaveProperty('internalPort');
  });

  it('ignores node data that is not this project JSON', () => {
    expect(parseServerNodeData(Buffer.from('not json'))).toBeUndefined();
    expect(parseServerNodeData(Buffer.alloc(0))).toBeUndefined();
    expect(parseServerNodeData(Buffer.from('{"connections":3}'))?.connections).toBe(3);
  });
});
