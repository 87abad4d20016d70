// Durable Raft state of a simulated agent in its data directory: current term and vote, the log, and the latest
// snapshot. Everything is written synchronously before the agent answers (Raft's rule), so an agent process
// killed and restarted on the same directory comes back with its history, like a real one.
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from './store.js';

export interface DiskEntry {
  index: number;
  term: number;
  query: Record<string, unknown>;
  clientId?: string;
  timestamp: number;
}

export interface DiskSnapshot {
  index: number;
  term: number;
  store: { root: JsonObject; ttls: [string, number][] };
}

export interface DiskState {
  term: number;
  votedFor: string | null;
  snapshot?: DiskSnapshot;
  entries: DiskEntry[];
}

export class RaftDisk {
  private fd?: number;
  private readonly journal: string;
  private readonly snapFile: string;

  constructor(dir: string) {
    this.journal = join(dir, 'raft.journal');
    this.snapFile = join(dir, 'raft.snapshot.json');
  }

  /** Reads what a previous run left (empty state for a fresh directory) and opens the journal for appending. */
  load(): DiskState {
    const st: DiskState = { term: 0, votedFor: null, entries: [] };
    if (existsSync(this.snapFile)) st.snapshot = JSON.parse(readFileSync(this.snapFile, 'utf8')) as DiskSnapshot;
    const base = st.snapshot?.index ?? 0;
    if (existsSync(this.journal)) {
      for (const line of readFileSync(this.journal, 'utf8').split('\n')) {
        if (!line) continue;
        let r: { v?: [number, string | null]; e?: DiskEntry; x?: number };
        try {
          r = JSON.parse(line);
        } catch {
          continue; // a torn last line
        }
        if (r.v) [st.term, st.votedFor] = r.v;
        else if (r.x !== undefined) st.entries = st.entries.filter((e) => e.index < r.x!);
        else if (r.e && r.e.index > base) {
          st.entries = st.entries.filter((e) => e.index < r.e!.index);
          st.entries.push(r.e);
        }
      }
    }
    this.fd = openSync(this.journal, 'a');
    return st;
  }

  private write(lines: unknown[]): void {
    if (this.fd === undefined || lines.length === 0) return;
    writeSync(this.fd, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  }

  vote(term: number, votedFor: string | null): void {
    this.write([{ v: [term, votedFor] }]);
  }

  append(entries: DiskEntry[]): void {
    this.write(entries.map((e) => ({ e })));
  }

  /** Drops entries from `index` on (a conflicting suffix replaced by the leader's). */
  truncateFrom(index: number): void {
    this.write([{ x: index }]);
  }

  /** Stores a snapshot and rewrites the journal with the term, vote and the entries after the snapshot. */
  snapshot(s: DiskSnapshot, term: number, votedFor: string | null, rest: DiskEntry[]): void {
    writeFileSync(`${this.snapFile}.tmp`, JSON.stringify(s));
    renameSync(`${this.snapFile}.tmp`, this.snapFile);
    const tmp = `${this.journal}.tmp`;
    writeFileSync(
      tmp,
      [{ v: [term, votedFor] }, ...rest.map((e) => ({ e }))].map((l) => JSON.stringify(l)).join('\n') + '\n',
    );
    if (this.fd !== undefined) closeSync(this.fd);
    renameSync(tmp, this.journal);
    this.fd = openSync(this.journal, 'a');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
