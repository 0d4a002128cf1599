import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Structured JSON logs on stdout (pino, fastify's logger). `name` is the component. */
export function createLogger(name: string, level: LogLevel = 'info', extra: LoggerOptions = {}): Logger {
  return pino({
    name,
    level,
    base: { component: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['token', '*.token', 'req.headers.authorization'], censor: '[redacted]' },
    ...extra,
  });
}

/** A logger that writes nothing; for tests and libraries used without logging. */
export const silentLogger: Logger = pino({ level: 'silent' });
