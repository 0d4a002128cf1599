import { describe, expect, it } from 'vitest';
import { ClientErrorCode, CimClientError } from './errors.ts';
import { isTransient, retryTransient } from './retry.ts';

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

describe('retryTransient', () => {
  const down = () => new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, 'route answered HTTP 503');

  it('tries once more after each delay while the failure is transient, and returns the first success', async () => {
    let calls = 0;
    expect(await retryTransient(async () => (++calls < 3 ? Promise.reject(down()) : 'done'), [1, 1, 1])).toBe('done');
    expect(calls).toBe(3);
  });

  it('throws the last failure once the delays are used up', async () => {
    let calls = 0;
    const failing = async () => {
      calls++;
      throw down();
    };
    await expect(retryTransient(failing, [1, 1])).rejects.toThrow('HTTP 503');
    expect(calls).toBe(3);
  });

  it('throws a failure that another attempt cannot change at once', async () => {
    let calls = 0;
    const repeatLogin = async () => {
      calls++;
      throw routeSaid('5000');
    };
    await expect(retryTransient(repeatLogin, [1, 1])).rejects.toMatchObject({ serverCode: '5000' });
    expect(calls).toBe(1);
  });
});
