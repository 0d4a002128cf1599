import { describe, expect, it } from 'vitest';
import { cimHash, HashRing } from './ring.ts';

// Vectors verified against CIM's Java TreeMapConsistentHash (reference §5.3).
describe('CIM-compatible consistent hash', () => {
  it('hashes like CIM (MD5, little-endian unsigned 32-bit)', () => {
    expect(cimHash('127.0.0.1:11211:8081')).toBe(2114134875);
    expect(cimHash('zhangsan')).toBe(133486337);
    expect(cimHash('1547028929407')).toBe(3750546781);
  });

  it('places the real node and two virtual nodes per server', () => {
    expect(cimHash('10.0.0.1:11211:8081')).toBe(2345276557);
    expect(cimHash('vir23452765570')).toBe(1565292172);
    expect(cimHash('vir23452765571')).toBe(2826993883);
    expect(cimHash('10.0.0.2:11211:8081')).toBe(114743108);
    expect(cimHash('vir1147431080')).toBe(4121100340);
    expect(cimHash('vir1147431081')).toBe(4029415336);
    expect(cimHash('10.0.0.3:11211:8081')).toBe(727377230);
    expect(cimHash('vir7273772300')).toBe(384578028);
    expect(cimHash('vir7273772301')).toBe(3470044693);
    expect(new HashRing(['10.0.0.1:11211:8081', '10.0.0.2:11211:8081', '10.0.0.3:11211:8081']).size).toBe(9);
  });

  it('routes user ids to the same servers as CIM', () => {
    const ring = new HashRing(['10.0.0.1:11211:8081', '10.0.0.2:11211:8081', '10.0.0.3:11211:8081']);
    expect(ring.lookup('1547028929407')).toBe('10.0.0.2:11211:8081');
    expect(ring.lookup('1722343979085')).toBe('10.0.0.2:11211:8081');
    expect(ring.lookup('1747309836375')).toBe('10.0.0.2:11211:8081');
    expect(ring.lookup('100')).toBe('10.0.0.1:11211:8081');
  });

  it('does not depend on the order servers are listed in', () => {
    const a = new HashRing(['10.0.0.1:11211:8081', '10.0.0.2:11211:8081', '10.0.0.3:11211:8081']);
    const b = new HashRing(['10.0.0.3:11211:8081', '10.0.0.1:11211:8081', '10.0.0.2:11211:8081']);
    for (let id = 1000; id < 1100; id++) expect(a.lookup(String(id))).toBe(b.lookup(String(id)));
  });

  it('returns undefined on an empty ring', () => {
    expect(new HashRing([]).lookup('1')).toBeUndefined();
  });
});
