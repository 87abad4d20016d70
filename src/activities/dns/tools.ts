// Wire format through Debian's BIND 9 tools, `dig` and `nsupdate`, wrapped - not an npm DNS library.
// Why: npm has no maintained DNS library that signs with TSIG. dns-packet (the widely used one) and its forks
// encode packets but implement neither TSIG signing nor response verification, dns2 has no TSIG, and
// native-dns/native-dns-packet have been unmaintained since 2015. nsupdate and dig are ISC's reference
// implementation of RFC 2136 and RFC 8945 (TSIG), shipped with the same BIND 9 the tests run against, and
// they verify signed responses. dig's `+yaml` output gives a structured answer to parse, not screen text.
import { spawn } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { CancelledFailure } from '@temporalio/common';
import { DnsConfigError, DnsUnavailableError } from './errors';
import type { ServerAddr } from './spec';

export interface ToolPaths {
  dig: string;
  nsupdate: string;
}

export const defaultTools: ToolPaths = { dig: '/usr/bin/dig', nsupdate: '/usr/bin/nsupdate' };

export interface Rr {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DnsAnswer {
  rcode: string;
  /** Authoritative Answer flag. */
  aa: boolean;
  answer: Rr[];
  authority: Rr[];
  additional: Rr[];
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const r: unknown = signal.reason;
    throw r instanceof Error ? r : new CancelledFailure('DNS activity cancelled');
  }
}

async function run(
  bin: string,
  args: string[],
  stdin: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<RunResult> {
  throwIfAborted(signal);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    // Our own guard on top of the tool's timeouts: a hung tool must not hang the activity.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5_000);
    const onAbort = () => {
      child.kill('SIGKILL');
      finish(() => {
        try {
          throwIfAborted(signal);
        } catch (e) {
          reject(e);
        }
      });
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      finish(() =>
        reject(
          e.code === 'ENOENT'
            ? new DnsConfigError(
                `${bin} is not installed on this worker: install Debian's bind9-dnsutils (scripts/setup does)`,
                e,
              )
            : e,
        ),
      ),
    );
    child.on('close', (code, sig) => finish(() => resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr })));
    child.stdin.on('error', () => undefined); // the tool may exit before reading stdin
    child.stdin.end(stdin);
  });
}

function parseRr(line: string): Rr | undefined {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 5) return undefined;
  const [name, ttl, , type] = parts;
  return { name: name!.toLowerCase(), ttl: Number(ttl), type: type!.toUpperCase(), data: parts.slice(4).join(' ') };
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * One query. With a server: non-recursive over TCP (an authoritative answer; TCP so that a stopped server
 * is told at once by a refused connection). Without: the worker's resolver.
 */
export async function digQuery(
  tools: ToolPaths,
  server: ServerAddr | undefined,
  name: string,
  type: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<DnsAnswer> {
  const args = ['+yaml', `+time=${seconds(timeoutMs)}`, '+tries=1'];
  if (server) args.push('+norec', '+tcp', '-p', String(server.port), `@${server.host}`);
  args.push(name, type);
  const where = server ? server.text : 'the worker resolver';
  const r = await run(tools.dig, args, '', timeoutMs, signal);
  let docs: unknown;
  try {
    docs = parseYaml(r.stdout, { logLevel: 'silent' });
  } catch {
    docs = undefined;
  }
  const first = Array.isArray(docs) ? (docs[0] as Record<string, any>) : undefined;
  const data = first?.type === 'MESSAGE' ? first.message?.response_message_data : undefined;
  if (r.code !== 0 || !data) {
    const why = (first?.message && typeof first.message === 'string' ? first.message : r.stderr || r.stdout).trim();
    throw new DnsUnavailableError(
      `DNS server ${where} did not answer ${name} ${type} (dig exit ${r.code}: ${why || 'no output'}); it is retried - check that it runs and is reachable from the worker`,
      where,
    );
  }
  const rrs = (k: string) => ((data[k] as string[] | undefined) ?? []).map(parseRr).filter((x): x is Rr => !!x);
  return {
    rcode: String(data.status),
    aa: String(data.flags ?? '')
      .split(/\s+/)
      .includes('aa'),
    answer: rrs('ANSWER_SECTION'),
    authority: rrs('AUTHORITY_SECTION'),
    additional: rrs('ADDITIONAL_SECTION'),
  };
}

export type UpdateOutcome =
  | { status: 'ok' }
  /** The server answered with an error rcode; `tsig` is the TSIG error (BADSIG, BADKEY, BADTIME) if any. */
  | { status: 'rcode'; rcode: string; tsig?: string; text: string }
  | { status: 'unreachable'; text: string }
  /** nsupdate rejected its input (exit 1): a bad value, name or key. */
  | { status: 'invalid'; text: string };

/**
 * Sends one RFC 2136 UPDATE message (all `lines` go into one message, so the change is atomic), TSIG-signed
 * when a key is given. The key goes in on stdin, never on the command line.
 */
export async function nsupdate(
  tools: ToolPaths,
  server: ServerAddr,
  zone: string,
  key: { name: string; algorithm: string; secret: string } | undefined,
  lines: string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<UpdateOutcome> {
  const script = [
    `server ${server.host} ${server.port}`,
    ...(key ? [`key ${key.algorithm}:${key.name} ${key.secret}`] : []),
    `zone ${zone}`,
    ...lines,
    'send',
    '',
  ].join('\n');
  // -v: TCP (a refused connection is seen at once); -t: overall timeout in seconds.
  const r = await run(tools.nsupdate, ['-v', '-t', String(seconds(timeoutMs))], script, timeoutMs, signal);
  const text = `${r.stderr}\n${r.stdout}`.trim();
  if (r.code === 0 && !/update failed/.test(text)) return { status: 'ok' };
  if (r.code === 1) return { status: 'invalid', text };
  const failed = /update failed:\s*([A-Z]+)(?:\(([A-Z]+)\))?/.exec(text);
  if (failed) return { status: 'rcode', rcode: failed[1]!, tsig: failed[2], text };
  const tsig = /TSIG error with server|tsig verify failure|expected a TSIG/i.test(text);
  if (tsig) return { status: 'rcode', rcode: 'NOTAUTH', tsig: 'BADSIG', text };
  return { status: 'unreachable', text: text || `nsupdate exit ${r.code}` };
}
