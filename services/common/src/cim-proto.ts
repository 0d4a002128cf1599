/**
 * proto/cim.proto as a protobufjs JSON descriptor, bundled with the code so that nothing reads the
 * .proto file at run time: the codec works from any install location and in a browser. Kept by hand
 * (it changes rarely); cim-proto.test.ts fails when it differs from what protobufjs parses from
 * proto/cim.proto, and prints the JSON to paste here.
 */
export const CIM_PROTO_JSON = {
  nested: {
    com: { nested: { crossoverjie: { nested: { cim: { nested: { common: { nested: { protocol: {
      options: { java_package: 'com.crossoverjie.cim.common.protocol', java_multiple_files: true },
      nested: {
        Request: {
          fields: {
            requestId: { type: 'int64', id: 2 },
            reqMsg: { type: 'string', id: 1 },
            cmd: { type: 'BaseCommand', id: 3 },
            properties: { keyType: 'string', type: 'string', id: 4 },
            batchReqMsg: { rule: 'repeated', type: 'string', id: 5 },
          },
        },
        Response: {
          fields: {
            responseId: { type: 'int64', id: 2 },
            resMsg: { type: 'string', id: 1 },
            cmd: { type: 'BaseCommand', id: 3 },
            properties: { keyType: 'string', type: 'string', id: 4 },
            batchResMsg: { rule: 'repeated', type: 'string', id: 5 },
          },
        },
        BaseCommand: {
          values: { LOGIN_REQUEST: 0, MESSAGE: 1, PING: 2, OFFLINE: 3, LOGIN_RESPONSE: 4, MESSAGE_ACK: 5, GOAWAY: 6, RECEIPT: 7, SYNC: 8, PRESENCE: 9 },
        },
      },
    } } } } } } } } },
  },
} as const;

export const REQUEST_TYPE_NAME = 'com.crossoverjie.cim.common.protocol.Request';
