// The address plan of the two test clusters and the WAN model between their regions.
//
// Kubernetes rejects loopback IPs in Endpoints/EndpointSlices, so pods, Services, load balancers and
// clients get private addresses that are made *local* on `lo` (`ip route replace local <cidr> dev lo`):
// every one of them is bound and connected on this machine, nothing is routed anywhere else.
// ensureLocalRoutes() refuses to continue unless the kernel says every range is local, so a missing
// route can never send a test packet out of the default route.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type Region = 'eu' | 'us';
export const REGIONS: readonly Region[] = ['eu', 'us'];

export interface RegionPlan {
  region: Region;
  /** Node spec.podCIDR; pod IPs come from its lower half, members' internal listen addresses from the upper. */
  podCidr: string;
  /** --service-cluster-ip-range */
  serviceCidr: string;
  /** status.loadBalancer.ingress addresses of type: LoadBalancer Services */
  lbPool: string;
  /** the node's own address, the Transit worker and test clients */
  clientCidr: string;
}

export const ADDRESS_PLAN: Readonly<Record<Region, RegionPlan>> = {
  eu: {
    region: 'eu',
    podCidr: '10.10.0.0/16',
    serviceCidr: '10.11.0.0/16',
    lbPool: '10.12.0.0/24',
    clientCidr: '10.13.0.0/24',
  },
  us: {
    region: 'us',
    podCidr: '10.20.0.0/16',
    serviceCidr: '10.21.0.0/16',
    lbPool: '10.22.0.0/24',
    clientCidr: '10.23.0.0/24',
  },
};

/** Every range that must be local on lo. */
export function allCidrs(): string[] {
  return REGIONS.flatMap((r) => {
    const p = ADDRESS_PLAN[r];
    return [p.podCidr, p.serviceCidr, p.lbPool, p.clientCidr];
  });
}

// ---- IPv4 arithmetic -------------------------------------------------------------------------------

/** Strips the IPv4-mapped IPv6 prefix that Node reports for dual-stack sockets. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export function ipToInt(ip: string): number {
  const parts = normalizeIp(ip).split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    const b = Number(p);
    if (!Number.isInteger(b) || b < 0 || b > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + b;
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; bits: number; size: number } {
  const [ip, b] = cidr.split('/');
  const bits = Number(b);
  if (!ip || !Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const size = 2 ** (32 - bits);
  const base = ipToInt(ip) - (ipToInt(ip) % size);
  return { base, bits, size };
}

export function cidrContains(cidr: string, ip: string): boolean {
  let n: number;
  try {
    n = ipToInt(ip);
  } catch {
    return false;
  }
  const { base, size } = parseCidr(cidr);
  return n >= base && n < base + size;
}

/** The region an address belongs to (any of its four ranges), or undefined (e.g. 127.0.0.1). */
export function regionOf(ip: string): Region | undefined {
  for (const r of REGIONS) {
    const p = ADDRESS_PLAN[r];
    if ([p.podCidr, p.serviceCidr, p.lbPool, p.clientCidr].some((c) => cidrContains(c, ip))) return r;
  }
  return undefined;
}

// ---- well-known addresses per region ----------------------------------------------------------------

/** The n-th address of a CIDR (0 = network address). */
export function nthAddress(cidr: string, n: number): string {
  const { base, size } = parseCidr(cidr);
  if (n < 0 || n >= size) throw new Error(`address #${n} is outside ${cidr}`);
  return intToIp(base + n);
}

/** The cluster DNS server's address (like kube-dns' 10.96.0.10): the 10th address of the Service range. */
export function dnsServiceIp(region: Region): string {
  return nthAddress(ADDRESS_PLAN[region].serviceCidr, 10);
}

/** The Node's InternalIP (also the pods' hostIP). */
export function nodeIp(region: Region): string {
  return nthAddress(ADDRESS_PLAN[region].clientCidr, 1);
}

/** The address the Transit worker binds its outbound sockets to when it acts from `region`. */
export function workerAddress(region: Region): string {
  return nthAddress(ADDRESS_PLAN[region].clientCidr, 2);
}

/** Test/benchmark client addresses: client i of a region is the (10+i)-th address of its client range. */
export function clientAddress(region: Region, i = 0): string {
  return nthAddress(ADDRESS_PLAN[region].clientCidr, 10 + i);
}

/**
 * The address a member listens on behind its pod IP: the same offset in the upper half of the pod range
 * (10.10.0.7 → 10.10.128.7), so it is in the same region and never collides with a pod IP.
 */
export function memberInternalAddress(podIp: string): string {
  const { base, size } = parseCidr(ADDRESS_PLAN[regionOrThrow(podIp)].podCidr);
  const off = ipToInt(podIp) - base;
  if (off <= 0 || off >= size / 2) throw new Error(`${podIp} is not in the pod-IP half of its pod range`);
  return intToIp(base + size / 2 + off);
}

function regionOrThrow(ip: string): Region {
  const r = regionOf(ip);
  if (!r) throw new Error(`${ip} belongs to no region of the address plan`);
  return r;
}

/**
 * Hands out addresses of a range in order, skipping .0 and .255 (some tools treat them as special) and
 * any the caller marks as reserved. Released addresses are reused last (not immediately) so that a
 * stale connection to a deleted pod's IP does not reach its successor.
 */
export class IpPool {
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Set<number>();
  private next: number;

  constructor(
    readonly cidr: string,
    opts: { firstOffset?: number; limit?: number } = {},
  ) {
    const c = parseCidr(cidr);
    this.base = c.base;
    this.size = opts.limit ?? c.size;
    this.next = opts.firstOffset ?? 1;
  }

  allocate(): string {
    for (let i = 0; i < this.size; i++) {
      const off = this.next;
      this.next = this.next + 1 >= this.size ? 1 : this.next + 1;
      const last = (this.base + off) & 255;
      if (last === 0 || last === 255 || this.used.has(off)) continue;
      this.used.add(off);
      return intToIp(this.base + off);
    }
    throw new Error(`address pool ${this.cidr} is exhausted (${this.used.size} in use)`);
  }

  /** Marks a specific address as taken (e.g. found in an object's status after a controller restart). */
  claim(ip: string): boolean {
    if (!cidrContains(this.cidr, ip)) return false;
    const off = ipToInt(ip) - this.base;
    if (off >= this.size || this.used.has(off)) return false;
    this.used.add(off);
    return true;
  }

  release(ip: string): void {
    if (cidrContains(this.cidr, ip)) this.used.delete(ipToInt(ip) - this.base);
  }

  inUse(): number {
    return this.used.size;
  }
}

// ---- the WAN model ----------------------------------------------------------------------------------

export interface WanConfig {
  /** One-way delay between the two regions, ms (the demo uses ~90). */
  crossRegionMs: number;
  /** One-way delay within a region, ms. */
  inRegionMs: number;
}

/**
 * One-way delays applied by the controller's proxies, by the source address of a connection and the
 * region the proxy stands in. Mutable: a running demo may change the delay; new data uses the new value.
 */
export class WanModel implements WanConfig {
  crossRegionMs: number;
  inRegionMs: number;

  constructor(cfg: Partial<WanConfig> = {}) {
    this.crossRegionMs = cfg.crossRegionMs ?? 0;
    this.inRegionMs = cfg.inRegionMs ?? 0;
  }

  set(cfg: Partial<WanConfig>): void {
    if (cfg.crossRegionMs !== undefined) this.crossRegionMs = cfg.crossRegionMs;
    if (cfg.inRegionMs !== undefined) this.inRegionMs = cfg.inRegionMs;
  }

  /** The delay for traffic from srcIp into `into`; unknown sources (127.0.0.1, …) are not delayed. */
  oneWayDelayMs(srcIp: string, into: Region): number {
    const from = regionOf(srcIp);
    if (!from) return 0;
    return from === into ? this.inRegionMs : this.crossRegionMs;
  }
}

// ---- making the ranges local ------------------------------------------------------------------------

async function ipCmd(args: string[]): Promise<string> {
  const sudo = process.getuid?.() !== 0;
  const [cmd, argv] = sudo ? ['sudo', ['-n', 'ip', ...args]] : ['ip', args];
  try {
    const { stdout } = await run(cmd, argv, { timeout: 10_000 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(
      `\`${sudo ? 'sudo ' : ''}ip ${args.join(' ')}\` failed: ${(err.stderr ?? err.message).trim()} ` +
        `(the test clusters need root or password-less sudo and iproute2 to make ${args.join(' ')} local on lo)`,
    );
  }
}

let routesVerified = false;

/**
 * Makes every range of the address plan local on lo (idempotent), then checks with `ip route get`
 * that each range really is local. Throws, naming the range, before any traffic could leave the machine.
 */
export async function ensureLocalRoutes(): Promise<void> {
  if (routesVerified) return;
  // Only ever inside the project's own network namespace (scripts/netns-run): these private ranges must not
  // exist on the host, where traffic to them would look like traffic to someone else's network.
  const ns = process.env.TRANSIT_NETNS;
  const { stdout } = await run('ip', ['netns', 'identify', String(process.pid)]).catch(() => ({ stdout: '' }));
  if (!ns || stdout.trim() !== ns) {
    throw new Error(
      'the simulated cluster network runs only inside its own network namespace: start this through scripts/netns-run (npm test and npm run demo do)',
    );
  }
  for (const cidr of allCidrs()) {
    await ipCmd(['route', 'replace', 'local', cidr, 'dev', 'lo']);
  }
  await verifyLocalRoutes();
  routesVerified = true;
}

/** Throws unless the first and last address of every range route to `local … dev lo`. */
export async function verifyLocalRoutes(): Promise<void> {
  for (const cidr of allCidrs()) {
    const { size } = parseCidr(cidr);
    for (const probe of [nthAddress(cidr, 1), nthAddress(cidr, size - 2)]) {
      const out = (await ipCmd(['route', 'get', probe])).trim();
      if (!/^local\s/.test(out) || !/\bdev lo\b/.test(out)) {
        throw new Error(
          `${probe} (${cidr}) is not local on lo (\`ip route get ${probe}\` says: ${out}); ` +
            `run \`ip route replace local ${cidr} dev lo\` — refusing to send test traffic off this machine`,
        );
      }
    }
  }
}

/** Removes the local routes again (not needed between runs; for a machine that should forget them). */
export async function removeLocalRoutes(): Promise<void> {
  for (const cidr of allCidrs()) {
    await ipCmd(['route', 'del', 'local', cidr, 'dev', 'lo']).catch(() => undefined);
  }
  routesVerified = false;
}
