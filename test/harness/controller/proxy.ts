// A userspace TCP proxy that models the WAN: every byte that crosses it is held for the one-way delay
// between the client's region (by its source address) and the region the proxy stands in, in each
// direction. A request/response pair therefore costs one round trip (2 × one-way); TCP connection set-up
// is not delayed (the kernel completes the handshake before the proxy sees the connection).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { normalizeIp, type Region, type WanModel } from '../network.js';

export interface ProxyTarget {
  host: string;
  port: number;
}

export interface TcpProxyOptions {
  /** For log and error messages. */
  name: string;
  listenHost: string;
  listenPort: number;
  /** Picks the backend for a new connection; undefined resets the client connection. */
  target: (clientIp: string) => ProxyTarget | undefined;
  /**
   * Region the listener stands in and the WAN model; the delay is wan.oneWayDelayMs(clientIp, region).
   * Omit for an in-node hop that adds no delay (kube-proxy).
   */
  wan?: { model: WanModel; region: Region };
  /**
   * Source address of the outbound connection. 'client' keeps the client's address (transparent, like
   * kube-proxy's DNAT: the next hop sees the real client); a string binds to that address (SNAT, like a
   * cloud load balancer: the next hop sees the LB, so the WAN delay is not counted twice).
   */
  source: 'client' | string;
  log?: (msg: string) => void;
}

// Pause the sender when this many delayed bytes are in flight in one direction.
const HIGH_WATER = 4 * 1024 * 1024;

export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  connections = 0;

  constructor(readonly opts: TcpProxyOptions) {}

  get address(): string {
    return `${this.opts.listenHost}:${this.opts.listenPort}`;
  }

  async start(): Promise<void> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new Error(
            `${this.opts.name}: cannot listen on ${this.address}: ${e.code ?? e.message}` +
              (e.code === 'EADDRNOTAVAIL' ? ' (is the range local on lo? see ensureLocalRoutes())' : ''),
          ),
        ),
      );
      server.listen({ host: this.opts.listenHost, port: this.opts.listenPort, exclusive: true }, () => resolve());
    });
    server.on('error', (e) => this.opts.log?.(`${this.opts.name}: ${e.message}`));
    this.server = server;
  }

  /** Stops listening and drops every open connection. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Drops every open connection (both ends reset) and keeps listening: a fault injected by tests. */
  dropConnections(): number {
    const n = this.sockets.size;
    for (const sock of this.sockets) sock.resetAndDestroy();
    this.sockets.clear();
    return n;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private accept(client: Socket): void {
    this.connections++;
    this.track(client);
    const clientIp = normalizeIp(client.remoteAddress ?? '');
    const t = this.opts.target(clientIp);
    if (!t) {
      client.resetAndDestroy();
      return;
    }
    const localAddress = this.opts.source === 'client' ? clientIp : this.opts.source;
    const upstream = connect({
      host: t.host,
      port: t.port,
      localAddress: localAddress || undefined,
      allowHalfOpen: true,
    });
    this.track(upstream);
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    const delay = (): number => (this.opts.wan ? this.opts.wan.model.oneWayDelayMs(clientIp, this.opts.wan.region) : 0);
    let failed = false;
    upstream.on('error', (e: NodeJS.ErrnoException) => {
      failed = true;
      // The client sees a reset, as when the backend refuses.
      if (!client.destroyed) client.resetAndDestroy();
      if (e.code !== 'ECONNREFUSED' && e.code !== 'ECONNRESET' && e.code !== 'EPIPE') {
        this.opts.log?.(`${this.opts.name}: upstream ${t.host}:${t.port}: ${e.message}`);
      }
    });
    client.on('error', () => {
      failed = true;
      if (!upstream.destroyed) upstream.resetAndDestroy();
    });
    pipeDelayed(client, upstream, delay, () => failed);
    pipeDelayed(upstream, client, delay, () => failed);
    client.resume();
  }
}

/**
 * Copies src → dst, holding each chunk (and the final FIN) for delay() ms. The delay is read per chunk,
 * so a WAN change applies to open (keep-alive) connections too; with no delay and nothing queued a chunk
 * is written at once. Order is kept: a chunk is never released before the one in front of it.
 */
function pipeDelayed(src: Socket, dst: Socket, delay: () => number, failed: () => boolean): void {
  let ended = false;
  src.once('end', () => (ended = true));
  // A reset/destroyed side takes the other one down (after a clean FIN the other direction may go on).
  src.once('close', () => {
    if (!ended || failed()) {
      if (!dst.destroyed) dst.destroy();
    }
  });
  const queue: { at: number; chunk: Buffer | null }[] = [];
  let pending = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastAt = 0;
  const maybeResume = (): void => {
    if (src.isPaused() && pending < HIGH_WATER / 2 && !dst.writableNeedDrain) src.resume();
  };
  const emit = (chunk: Buffer | null): void => {
    if (dst.destroyed) return;
    if (chunk === null) dst.end();
    else if (!dst.write(chunk)) src.pause();
  };
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.at <= now + 0.5) {
      const { chunk } = queue.shift()!;
      if (chunk) pending -= chunk.length;
      emit(chunk);
    }
    maybeResume();
    schedule();
  };
  const schedule = (): void => {
    if (timer || queue.length === 0) return;
    timer = setTimeout(flush, Math.max(0, queue[0]!.at - performance.now()));
  };
  const push = (chunk: Buffer | null): void => {
    const d = delay();
    if (d <= 0 && queue.length === 0) {
      emit(chunk);
      return;
    }
    const at = Math.max(performance.now() + d, lastAt);
    lastAt = at;
    queue.push({ at, chunk });
    if (chunk) {
      pending += chunk.length;
      if (pending > HIGH_WATER) src.pause();
    }
    schedule();
  };
  src.on('data', (chunk: Buffer) => push(chunk));
  src.on('end', () => push(null));
  dst.on('drain', maybeResume);
  dst.once('close', () => {
    if (timer) clearTimeout(timer);
    queue.length = 0;
  });
}
