/**
 * CIM's response codes (StatusEnum) and its JSON envelope. The envelope has exactly the four keys
 * `code, message, reqNo, dataBody`: CIM's Java SDK parses replies with FAIL_ON_UNKNOWN_PROPERTIES.
 */
export const Status = {
  SUCCESS: { code: '9000', message: 'Success' },
  VALIDATION_FAIL: { code: '3000', message: 'invalid argument' },
  FAIL: { code: '4000', message: 'Failure' },
  REPEAT_LOGIN: { code: '5000', message: 'Repeat login, log out an account please!' },
  OFF_LINE: { code: '7000', message: 'You selected user is offline!, please try again later!' },
  SERVER_NOT_AVAILABLE: { code: '7100', message: 'cim server is not available, please try again later!' },
  ACCOUNT_NOT_MATCH: { code: '9100', message: 'The User information you have used is incorrect!' },
  OFFLINE_MESSAGE_STORAGE_ERROR: { code: '9200', message: 'Offline message storage error!' },
  OFFLINE_MESSAGE_FETCH_ERROR: { code: '9201', message: 'Offline message fetch error!' },
  // Added by this project: a token was required and missing or invalid.
  UNAUTHORIZED: { code: '9300', message: 'Authentication failed: missing or invalid token' },
} as const;
export type StatusEntry = (typeof Status)[keyof typeof Status];

export interface Envelope<T> {
  code: string;
  message: string;
  reqNo: null;
  dataBody: T | null;
}

/** Any code of the catalogue (services/common/src/codes.ts) or of CIM's StatusEnum. */
export interface CodeEntry {
  readonly code: string;
  readonly message: string;
}

export function envelope<T>(status: CodeEntry, dataBody: T | null = null, message: string = status.message): Envelope<T> {
  return { code: status.code, message, reqNo: null, dataBody };
}

/** JSON schema of the envelope for fastify's serializer: fixes key order and forbids extra keys. */
export function envelopeSchema(dataBody: object = {}): object {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['code', 'message', 'reqNo', 'dataBody'],
    properties: {
      code: { type: 'string' },
      message: { type: 'string' },
      reqNo: { type: 'null' },
      dataBody: dataBody,
    },
  };
}
