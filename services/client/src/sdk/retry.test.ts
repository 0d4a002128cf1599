import { describe, expect, it } from 'vitest';
import { ClientErrorCode, CimClientError } from './errors.ts';
import { isTransient } from './retry.ts';

const routeSaid = (serverCode: string) => new CimClientError(ClientErrorCode.ROUTE_REJECTED, `route said ${serverCode}`, { serverCode });

describe('isTransient (which first-connect failures earn another attempt)', () => {
  it('retries the network and "not yet" answers: no server in the route\'s view yet (7100), identity provider down (9305)', () => {
    expect(isTransient(new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, 'down'))).toBe(true);
    expect(isTransient(new CimClientError(ClientErrorCode.CONNECT_FAILED, 'refused'))).toBe(true);
    expect(isTransient(routeSaid('7100'))).toBe(true);
    expect(isTransient(routeSaid('9305'))).toBe(true);
  });

  it('never retries what another attempt cannot change: another login of the user (5000), bad credentials, anything else', () => {
    for (const code of ['5000', '9300', '9301', '9302', '7300']) expect(isTransient(routeSaid(code)), code).toBe(false);
    expect(isTransient(new Error('plain'))).toBe(false);
  });
});
