// Log lines of simulated members: "<time> [simulated <role> <id>] message".
export type LogFn = (msg: string) => void;

export interface Logger {
  info: LogFn;
  warn: LogFn;
  debug: LogFn;
  child(prefix: string): Logger;
}

export function makeLogger(sink: ((line: string) => void) | undefined, prefix: string, debug = false): Logger {
  const emit = (level: string, msg: string): void => {
    if (!sink) return;
    sink(`${new Date().toISOString()} ${level} [simulated ${prefix}] ${msg}`);
  };
  return {
    info: (m) => emit('INFO', m),
    warn: (m) => emit('WARN', m),
    debug: (m) => {
      if (debug) emit('DEBUG', m);
    },
    child: (p) => makeLogger(sink, p, debug),
  };
}

export const silentLogger: Logger = makeLogger(undefined, '');
