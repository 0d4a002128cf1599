/** Typed calls to the route's HTTP API for tests, returning the raw envelope. */
export interface Envelope<T = unknown> {
  code: string;
  message: string;
  reqNo: null;
  dataBody: T;
}

export interface LoginBody {
  ip: string;
  cimServerPort: number;
  httpPort: number;
  wsPath?: string;
  token?: string;
  refreshToken?: string;
  expiresIn?: number;
}

/** Every account the harness registers gets this password (a route in cim mode ignores it). */
export const TEST_PASSWORD = 'test-password';

export function routeApi(baseUrl: string) {
  const post = async <T>(path: string, body: unknown): Promise<Envelope<T>> => {
    const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as Envelope<T>;
  };
  return {
    post,
    register: (userName: string, password = TEST_PASSWORD) => post<{ userId: number; userName: string }>('/registerAccount', { userName, password }),
    login: (userId: number, userName: string, protocol?: number, password = TEST_PASSWORD) => post<LoginBody | null>('/login', { userId, userName, password, ...(protocol ? { protocol } : {}) }),
    offLine: (userId: number, token?: string) => post<null>('/offLine', { userId, msg: 'offLine', ...(token ? { token } : {}) }),
    p2p: (userId: number, receiveUserId: number, msg: string, token?: string) => post<null>('/p2pRoute', { userId, receiveUserId, msg, ...(token ? { token } : {}) }),
    group: (userId: number, msg: string, token?: string) => post<null>('/groupRoute', { userId, msg, ...(token ? { token } : {}) }),
    fetchOffline: (receiveUserId: number, token?: string) => post<null>('/fetchOfflineMsgs', { receiveUserId, ...(token ? { token } : {}) }),
    onlineUsers: async () => (await (await fetch(`${baseUrl}/onlineUser`)).json()) as Envelope<{ userId: number; userName: string }[] | null>,
  };
}
