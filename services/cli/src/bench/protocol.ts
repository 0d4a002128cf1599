/** Messages between `cim bench` (parent) and its load-generator worker processes (node:child_process IPC). */
import type { FailoverFromWorker, FailoverToWorker } from './failover-protocol.ts';
import type { HistogramData } from './stats.ts';

export type UserKind = 'native' | 'cim';

export type ToWorker =
  /** register + /login + connect + LOGIN_REQUEST (native: protocol 2 over WebSocket; cim: TCP) */
  | { type: 'connect'; kind: UserKind; routeUrl: string; names: string[]; concurrency: number }
  /** /registerAccount only (untimed set-up of the login scenario) */
  | { type: 'register'; routeUrl: string; names: string[]; concurrency: number }
  /** /login (protocol 2) of the accounts registered by the last 'register': what the route does per login */
  | { type: 'login'; concurrency: number }
  /** private messages: sends[i] = [local user index, receiver userId]; window 0 = open loop at `rate` */
  | { type: 'p2p'; sends: Array<[number, number]>; rate: number; durationS: number; warmupS: number; window: number; receipts: boolean }
  /** group: the worker with `sender` sends `rate` messages/s; every worker counts deliveries */
  | { type: 'group'; sender: number | undefined; rate: number; durationS: number }
  | { type: 'collect' }
  | { type: 'close' }
  | FailoverToWorker;

export interface HistogramMsg {
  counts: HistogramData;
  max: number;
}

export interface P2pResult {
  sent: number;
  acked: number;
  ackFailed: number;
  /** CIM /p2pRoute answers 7000: stored, receiver not live */
  offline: number;
  receipts: number;
  received: number;
  duplicates: number;
  latency: HistogramMsg;
  /** messages sent during the warm-up (their text ends in WARMUP_MARK) */
  warmupLatency: HistogramMsg;
}

/** Appended to a p2p text sent during the warm-up: the receiving worker keeps its latency apart. */
export const WARMUP_MARK = '|w';

export interface GroupResult {
  /** seq -> [deliveries, last arrival, sent at] */
  perSeq: Array<[number, number, number, number]>;
  sent: number;
}

export type FromWorker =
  | { type: 'progress'; done: number; received: number; acked: number }
  | { type: 'connected'; users: Array<{ userId: number; server: string }>; latency: HistogramMsg; errors: number; firstError?: string }
  | { type: 'registered'; count: number; errors: number; firstError?: string }
  | { type: 'loggedIn'; count: number; errors: number; latency: HistogramMsg; firstError?: string }
  | { type: 'sendDone'; sent: number }
  | { type: 'result'; p2p?: P2pResult; group?: GroupResult; cpuSeconds: number }
  | { type: 'failed'; error: string }
  | FailoverFromWorker;
