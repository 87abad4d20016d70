/**
 * A rehearsal's fault schedule (`transit rehearse --faults FILE`, YAML or JSON): what breaks, and when — at the
 * start of a phase, or when a phase has done a fraction of its work (MoveShards: of its bytes, else of its shard
 * groups; MoveAgents: of its agents).
 *
 *   faults:
 *     - fault: kill-target-dbserver   # which one: `server` (index, default 0)
 *       at: { phase: MoveShards, fraction: 0.5 }
 *       seconds: 10                   # down for 10 s, then started again (as Kubernetes restarts a pod)
 *     - fault: worker-sigkill
 *       at: { phase: MoveAgents }
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { PHASES } from '../shared/types';

export const FAULT_KINDS = [
  'kill-source-dbserver',
  'kill-target-dbserver',
  'agency-leader',
  'bridge-down',
  'worker-sigkill',
  'dns-server-stop',
  'halve-link',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** How long a fault lasts unless the schedule says (worker-sigkill and halve-link have no duration). */
export const DEFAULT_FAULT_SECONDS: Record<FaultKind, number | null> = {
  'kill-source-dbserver': 10,
  'kill-target-dbserver': 10,
  'agency-leader': 5,
  'bridge-down': 10,
  'worker-sigkill': null,
  'dns-server-stop': 10,
  'halve-link': null,
};

const faultSchema = z
  .object({
    fault: z.enum(FAULT_KINDS),
    at: z
      .object({
        phase: z.enum(PHASES as unknown as [string, ...string[]]),
        fraction: z.number().min(0).max(1).default(0),
      })
      .strict(),
    seconds: z.number().positive().optional(),
    /** Which DB server (index into the source's, or the target's, in ID order); default 0. */
    server: z.number().int().nonnegative().default(0),
  })
  .strict();

export const faultScheduleSchema = z.object({ faults: z.array(faultSchema).default([]) }).strict();
export type Fault = z.infer<typeof faultSchema>;

/** Parses a fault schedule; throws one message naming every problem and the file. */
export function parseFaultSchedule(value: unknown, where = 'fault schedule'): Fault[] {
  const r = faultScheduleSchema.safeParse(value ?? {});
  if (!r.success)
    throw new Error(
      `${where}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`,
    );
  return r.data.faults;
}

export function loadFaultSchedule(file: string): Fault[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--faults ${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseFaultSchedule(parseYaml(text), `--faults ${file}`);
}

export function describeFault(f: Fault): string {
  const when = `${f.at.phase}${f.at.fraction > 0 ? ` at ${Math.round(f.at.fraction * 100)} %` : ' start'}`;
  const secs = f.seconds ?? DEFAULT_FAULT_SECONDS[f.fault];
  const which = /dbserver/.test(f.fault) || f.fault === 'halve-link' ? ` #${f.server}` : '';
  return `${f.fault}${which} in ${when}${secs ? ` for ${secs} s` : ''}`;
}

/** What a fault did, as the rehearsal saw it. */
export interface FaultOutcome {
  fault: string;
  /** When it struck, seconds after the rehearsal's workflow started (real time of the rehearsal, not scaled). */
  atSeconds: number | null;
  /** Seconds from the fault until the migration made progress again (a phase, a shard group or an agent). */
  blockedSeconds: number | null;
  /** What Transit did: the activities that failed and were retried meanwhile, a park, a rollback. */
  transit: string;
  /** How the migration ended (completed, parked with its message, rolled back, failed). */
  ended: string;
}
