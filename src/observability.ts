/**
 * What a worker shows its operators, besides the SDK's own metrics:
 *   - JSON logs: one object per line on stdout (what log collectors parse), carrying migrationId, phase and
 *     shard where the code knows them, with secrets redacted twice over: by key name, and by value for every
 *     credential the worker has read (registerSecret).
 *   - An activity interceptor: activity errors by kind (`transit_activity_errors`), and migrationId/shard on
 *     every activity log line.
 *   - The Runtime's telemetry options: the SDK's metrics and Transit's on one Prometheus endpoint.
 * Workflow metrics (phase, shards, bytes, latency) are emitted replay-safely by src/workflows/metrics.ts.
 */
import {
  ApplicationFailure,
  CancelledFailure,
  type Logger,
  type LogLevel,
  type LogMetadata,
  type MetricCounter,
} from '@temporalio/common';
import type { ActivityInterceptorsFactory, TelemetryOptions } from '@temporalio/worker';
import { WORKFLOW_TYPE } from './shared/controls';

/** @temporalio/worker's LogTimestamp (a registered symbol: the client side need not load the worker package). */
const LogTimestamp: unique symbol = Symbol.for('log_timestamp') as never;

const LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
const REDACTED = '[redacted]';

/**
 * Key names whose string values are secrets. References (objects such as {file} or {secret: {name, key}}) are
 * kept: they name where a secret lives, which operators need and which is not secret.
 */
const SECRET_KEY =
  /pass(word|wd|phrase)?$|secret$|token$|^jwt|apikey|api[_-]key|authori[sz]ation|private[_-]?key|^tsig|credential|cookie/i;
/** Task tokens can complete an activity through the API: not needed in logs. */
const DROPPED_KEYS = new Set(['taskToken']);

/** Values never to be written anywhere: registered as the worker reads them (credentials, API key, codec keys). */
const secretValues = new Set<string>();

export function registerSecret(value: string | undefined | null): void {
  // Very short values would redact ordinary words; real credentials are long.
  if (value && value.length >= 8) secretValues.add(value);
}

/** Replaces every registered secret value in s. */
export function scrub(s: string): string {
  let out = s;
  for (const v of secretValues) if (out.includes(v)) out = out.split(v).join(REDACTED);
  return out;
}

/** A JSON-safe copy of a log value with secrets removed (bounded depth: logs are not dumps). */
export function redact(v: unknown, key = '', depth = 0): unknown {
  if (typeof v === 'string') return SECRET_KEY.test(key) ? REDACTED : scrub(v);
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') return typeof v === 'function' || typeof v === 'symbol' ? undefined : v;
  if (depth > 6) return '[…]';
  if (v instanceof Error) {
    const e = v as Error & { type?: string; cause?: unknown };
    return {
      name: e.name,
      message: scrub(e.message),
      ...(e.type ? { type: e.type } : {}),
      ...(e.stack ? { stack: scrub(e.stack) } : {}),
      ...(e.cause ? { cause: redact(e.cause, 'cause', depth + 1) } : {}),
    };
  }
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (Array.isArray(v)) return v.slice(0, 50).map((x) => redact(x, key, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (DROPPED_KEYS.has(k)) continue;
    out[k] = redact(x, k, depth + 1);
  }
  return out;
}

/**
 * One JSON object per line: {time, level, msg, ...metadata}. Workflow code logs with {migrationId, phase,
 * shard, ...}; the activity interceptor below adds migrationId and shard to activity logs; SDK lines about a
 * migration workflow get migrationId from the workflow ID (the client uses the migration ID as workflow ID).
 */
export class JsonLogger implements Logger {
  private readonly min: number;
  constructor(
    readonly level: LogLevel = 'INFO',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
  ) {
    this.min = LEVELS.indexOf(level);
  }

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (LEVELS.indexOf(level) < this.min) return;
    const { [LogTimestamp]: nanos, ...rest } = (meta ?? {}) as LogMetadata & { [LogTimestamp]?: bigint };
    const time = typeof nanos === 'bigint' ? new Date(Number(nanos / 1_000_000n)) : new Date();
    const fields = redact(rest) as Record<string, unknown>;
    if (
      fields.migrationId === undefined &&
      fields.workflowType === WORKFLOW_TYPE &&
      typeof fields.workflowId === 'string'
    ) {
      fields.migrationId = fields.workflowId;
    }
    const entry = { time: time.toISOString(), level, msg: scrub(message), ...fields };
    let line: string;
    try {
      line = JSON.stringify(entry);
    } catch {
      line = JSON.stringify({ time: entry.time, level, msg: entry.msg, note: 'metadata not serialisable' });
    }
    this.write(`${line}\n`);
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/** Metric names Transit adds (the SDK's own are listed in deploy/README.md). */
export const METRICS = {
  activityErrors: 'transit_activity_errors',
} as const;

/** migrationId and shard(s) from an activity's argument (the contract's MigrationRef and shard move lists). */
export function activityLogAttributes(arg: unknown): Record<string, unknown> {
  const a = (arg ?? {}) as { migrationId?: unknown; phase?: unknown; moves?: unknown; shards?: unknown };
  const out: Record<string, unknown> = {};
  if (typeof a.migrationId === 'string') out.migrationId = a.migrationId;
  if (typeof a.phase === 'string') out.phase = a.phase;
  const list = Array.isArray(a.moves) ? a.moves : Array.isArray(a.shards) ? a.shards : null;
  if (list?.length) {
    const label = (x: { database?: string; collectionId?: string; shard?: string }) =>
      `${x.database}/${x.collectionId}/${x.shard}`;
    if (list.length === 1) out.shard = label(list[0]);
    else {
      out.shards = list.slice(0, 10).map(label);
      out.shardCount = list.length;
    }
  }
  return out;
}

/** The error kind a failed activity is counted under: the ApplicationFailure type, else the error's name. */
export function errorKind(e: unknown): string {
  if (e instanceof CancelledFailure) return 'Cancelled';
  if (e instanceof ApplicationFailure) return e.type ?? 'ApplicationFailure';
  if (e instanceof Error) return (e as Error & { type?: string }).type ?? e.name ?? 'Error';
  return 'Unknown';
}

/**
 * How often the activity interceptor heartbeats for a running activity; the production worker sends each one
 * (src/worker.ts maxHeartbeatThrottleInterval), so a heartbeat timeout of a few of these notices a dead worker.
 */
export const HEARTBEAT_EVERY_MS = 500;

/**
 * The Worker options every Transit worker runs activities with: the activity interceptor (heartbeats, error
 * counts, log attributes) and no heartbeat throttling beyond HEARTBEAT_EVERY_MS — the SDK otherwise sends at most
 * one heartbeat per 0.8 × the heartbeat timeout, and a 2 s timeout would then be one late heartbeat from a false
 * alarm.
 */
export function activityWorkerOptions(): {
  interceptors: { activity: ActivityInterceptorsFactory[] };
  maxHeartbeatThrottleInterval: string;
} {
  return {
    interceptors: { activity: [activityInterceptors()] },
    maxHeartbeatThrottleInterval: `${HEARTBEAT_EVERY_MS}ms`,
  };
}

/**
 * Counts activity errors by kind, puts migrationId/shard on every activity log line, and heartbeats every
 * HEARTBEAT_EVERY_MS while an activity runs.
 */
export function activityInterceptors(): ActivityInterceptorsFactory {
  return (ctx) => {
    let attrs: Record<string, unknown> = {};
    let errors: MetricCounter | null = null;
    return {
      inbound: {
        async execute(input, next) {
          attrs = activityLogAttributes(input.args[0]);
          // Every activity beats while it runs, waits or not: a worker that dies in the middle of a short step is
          // then noticed within that step's heartbeat timeout, not its start-to-close timeout (60 s).
          const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
          try {
            return await next(input);
          } catch (e) {
            // ctx.metricMeter already carries namespace, task queue and activity type.
            errors ??= ctx.metricMeter.createCounter(
              METRICS.activityErrors,
              '1',
              'activity attempts that failed, by error kind',
            );
            const nonRetryable = e instanceof ApplicationFailure && e.nonRetryable === true;
            errors.add(1, { error_type: errorKind(e), non_retryable: nonRetryable });
            throw e;
          } finally {
            clearInterval(beat);
          }
        },
      },
      outbound: {
        getLogAttributes: (a, next) => next({ ...a, ...attrs }),
      },
    };
  };
}

/**
 * Runtime telemetry: native (Rust core) logs forwarded to the JSON logger; metrics on a Prometheus endpoint
 * with Prometheus' conventions (counters end in _total, durations in seconds).
 */
export function telemetryOptions(o: { metricsAddress?: string; coreLogLevel?: LogLevel }): TelemetryOptions {
  return {
    logging: { filter: { core: o.coreLogLevel ?? 'WARN', other: 'ERROR' }, forward: {} },
    ...(o.metricsAddress
      ? {
          metrics: {
            prometheus: { bindAddress: o.metricsAddress, countersTotalSuffix: true, useSecondsForDurations: true },
          },
        }
      : {}),
  };
}
