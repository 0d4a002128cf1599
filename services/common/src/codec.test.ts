import { describe, expect, it } from 'vitest';
import { Command, decodeMessage, encodeMessage, encodeTcpFrame, PONG_BODY } from './codec.ts';
import { encodeLengthPrefixed } from './framing.ts';

const hex = (s: string) => Buffer.from(s.replaceAll(' ', ''), 'hex');

// Byte vectors of CIM's Java implementation (protobuf-java 4.28, frame = varint length + body).
const LOGIN = '11 0a 08 7a 68 61 6e 67 73 61 6e 10 ff b6 f0 90 83 2d';
const PING = '0f 0a 04 70 69 6e 67 10 ff b6 f0 90 83 2d 18 02';
const PONG = '08 0a 04 70 6f 6e 67 18 02';
const PUSH =
  '2d 0a 05 68 65 6c 6c 6f 10 ff b6 f0 90 83 2d 18 01 22 1b 0a 0a 73 65 6e 64 55 73 65 72 49 64 12 0d 31 35 34 37 30 32 38 39 32 39 34 30 38';

describe('codec against CIM byte vectors', () => {
  it('encodes the login frame exactly', () => {
    expect(encodeTcpFrame({ requestId: 1547028929407, reqMsg: 'zhangsan', cmd: Command.LOGIN_REQUEST })).toEqual(hex(LOGIN));
  });

  it('decodes the login frame, defaulting the absent cmd to LOGIN_REQUEST', () => {
    expect(decodeMessage(hex(LOGIN).subarray(1))).toEqual({
      requestId: 1547028929407,
      reqMsg: 'zhangsan',
      cmd: Command.LOGIN_REQUEST,
      properties: {},
      batchReqMsg: [],
    });
  });

  it('encodes and decodes the ping frame', () => {
    expect(encodeTcpFrame({ requestId: 1547028929407, reqMsg: 'ping', cmd: Command.PING })).toEqual(hex(PING));
    expect(decodeMessage(hex(PING).subarray(1)).cmd).toBe(Command.PING);
  });

  it('produces the exact pong bytes', () => {
    expect(encodeLengthPrefixed(PONG_BODY)).toEqual(hex(PONG));
  });

  it('encodes the push frame with properties', () => {
    const frame = encodeTcpFrame({
      requestId: 1547028929407,
      reqMsg: 'hello',
      cmd: Command.MESSAGE,
      properties: { sendUserId: '1547028929408' },
    });
    expect(frame).toEqual(hex(PUSH));
    expect(decodeMessage(frame.subarray(1)).properties).toEqual({ sendUserId: '1547028929408' });
  });

  it('round-trips batches and extension commands', () => {
    const body = encodeMessage({ requestId: 7, cmd: Command.MESSAGE_ACK, batchReqMsg: ['a', 'b'], properties: { msgId: 'm1', code: '9000' } });
    expect(decodeMessage(body)).toEqual({ requestId: 7, reqMsg: '', cmd: Command.MESSAGE_ACK, properties: { msgId: 'm1', code: '9000' }, batchReqMsg: ['a', 'b'] });
  });

  it('rejects bytes that are not a protobuf Request', () => {
    expect(() => decodeMessage(hex('0a ff ff ff ff'))).toThrow(/invalid protobuf frame/);
    expect(() => decodeMessage(hex('ff ff ff ff ff ff ff ff ff ff ff'))).toThrow(/invalid protobuf frame/);
  });
});
