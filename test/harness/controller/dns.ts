// A tiny authoritative DNS server for one test cluster (the part of CoreDNS the tests need), on UDP and
// TCP. It answers only names under cluster.local from a lookup function and never forwards anywhere:
// names it does not own get NXDOMAIN (there is no network to recurse to).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import * as dnsPacket from 'dns-packet';

/** A's for a name, [] for "exists but has no A" (NODATA), undefined for NXDOMAIN. */
export type DnsLookup = (name: string) => string[] | undefined;

const NXDOMAIN = 3;
const REFUSED = 5;
const TTL = 5; // short: Services come and go during a migration

export class DnsServer {
  private udp?: UdpSocket;
  private tcp?: Server;
  private readonly conns = new Set<Socket>();
  queries = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly lookup: DnsLookup,
    private readonly log?: (msg: string) => void,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async start(): Promise<void> {
    const udp = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', (e) => reject(new Error(`cluster DNS: cannot bind udp ${this.address}: ${e.message}`)));
      udp.bind(this.port, this.host, () => resolve());
    });
    udp.on('error', (e) => this.log?.(`cluster DNS udp: ${e.message}`));
    udp.on('message', (msg, rinfo) => {
      const resp = this.answer(msg);
      if (resp) udp.send(resp, rinfo.port, rinfo.address);
    });
    this.udp = udp;

    const tcp = createServer((sock) => this.serveTcp(sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', (e) => reject(new Error(`cluster DNS: cannot listen on tcp ${this.address}: ${e.message}`)));
      tcp.listen({ host: this.host, port: this.port, exclusive: true }, () => resolve());
    });
    this.tcp = tcp;
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  private serveTcp(sock: Socket): void {
    this.conns.add(sock);
    sock.once('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const resp = this.answer(msg);
        if (resp) {
          const out = Buffer.alloc(2 + resp.length);
          out.writeUInt16BE(resp.length, 0);
          resp.copy(out, 2);
          sock.write(out);
        }
      }
    });
  }

  /** Builds the response to one query message (undefined: unparseable, dropped as a real server would). */
  answer(msg: Buffer): Buffer | undefined {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    this.queries++;
    const questions = q.questions ?? [];
    const answers: dnsPacket.Answer[] = [];
    let rcode = 0;
    for (const question of questions) {
      const name = question.name.replace(/\.$/, '').toLowerCase();
      if (!name.endsWith('.cluster.local') && name !== 'cluster.local') {
        rcode = REFUSED;
        continue;
      }
      const ips = this.lookup(name);
      if (ips === undefined) {
        rcode = NXDOMAIN;
        continue;
      }
      if (question.type === 'A' || (question.type as string) === 'ANY') {
        for (const ip of ips) answers.push({ type: 'A', name: question.name, ttl: TTL, class: 'IN', data: ip });
      }
    }
    // QR is set by type: 'response'; AA (0x400), RD copied from the query (0x100), RA (0x80), rcode.
    const rd = (q.flags ?? 0) & 0x100;
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: 0x400 | rd | 0x80 | rcode,
      questions,
      answers,
    });
  }
}
