// What DB servers and coordinators share: identity bound to the data directory, joining the cluster through the
// agency (ServerState::integrateIntoCluster as described in the notes §3.2), heartbeats into the transient store,
// the poll-fed agency cache, and the common server endpoints.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { Lifecycle, loadOrCreateId } from './lifecycle.js';
import type { Logger } from './log.js';
import { HttpClient, type Endpoint, type NetOptions } from './net.js';
import { bearerHeader } from './jwt.js';
import { SimServer, ok } from './server.js';
import { AgencyCache, AgencyClient } from './agency-client.js';
import { ClusterView, asDict } from './cluster-state.js';
import { SIM_VERSION, SIM_VERSION_NUMBER } from './version.js';

export interface MemberOptions {
  listen: Endpoint;
  /** --cluster.my-address: the endpoint registered in the agency. */
  myAddress: string;
  /** --cluster.agency-endpoint (bootstrap hints; the agency pool takes over once known). */
  agencyEndpoints: string[];
  dataDir?: string;
  jwtSecret: string;
  rootPassword?: string;
  net: NetOptions;
  log: Logger;
  /** Heartbeat interval (ms); the real one is 1 s. */
  heartbeatMs?: number;
}

export type MemberRole = 'PRIMARY' | 'COORDINATOR';

/** The skeleton written once (precondition /arango/InitDone empty), like AgencyComm::ensureStructureInitialized. */
function initialStructure(): Record<string, unknown> {
  return {
    Plan: {
      Version: 1,
      Databases: { _system: { name: '_system', id: '1', isSystem: true } },
      Collections: { _system: {} },
      DBServers: {},
      Coordinators: {},
      Views: {},
      Analyzers: {},
    },
    Current: {
      Version: 1,
      Databases: {},
      Collections: { _system: {} },
      DBServers: {},
      Coordinators: {},
      ServersRegistered: {},
      ServersKnown: {},
      MaintenanceDBServers: {},
    },
    Target: {
      ToDo: {},
      Pending: {},
      Finished: {},
      Failed: {},
      CleanedServers: [],
      ToBeCleanedServers: [],
      FailedServers: {},
      MapUniqueToShortID: {},
      LatestDBServerId: 0,
      LatestCoordinatorId: 0,
      NumberOfDBServers: null,
      NumberOfCoordinators: null,
      Version: 1,
    },
    Supervision: {
      Health: {},
      Shards: {},
      DBServers: {},
      State: { Mode: 'Normal', Timestamp: new Date().toISOString() },
    },
    Sync: { LatestID: 1_000_000, ServerStates: {}, Problems: {}, UserVersion: 1, HeartbeatIntervalMs: 1000 },
    Agency: { Definition: 1 },
    Cluster: randomUUID(),
    Bootstrap: 'done',
    InitDone: true,
  };
}

export abstract class ClusterMember {
  id = '';
  shortName = '';
  readonly lc = new Lifecycle();
  protected http: HttpClient;
  protected agency: AgencyClient;
  protected cache: AgencyCache;
  protected server: SimServer;
  protected log: Logger;
  protected ready = false;
  private freshId = true;
  private hbTimer?: NodeJS.Timeout;

  constructor(
    protected o: MemberOptions,
    readonly role: MemberRole,
  ) {
    this.log = o.log;
    const ident = loadOrCreateId(o.dataDir, role === 'PRIMARY' ? 'PRMR' : 'CRDN');
    this.id = ident.id;
    this.freshId = ident.fresh;
    this.http = new HttpClient(o.net, bearerHeader(o.jwtSecret, this.id));
    this.agency = new AgencyClient(this.http, o.agencyEndpoints, this.lc, this.log);
    this.cache = new AgencyCache(this.agency, this.lc, this.log);
    this.server = new SimServer({
      listen: o.listen,
      jwtSecret: o.jwtSecret,
      rootPassword: o.rootPassword,
      log: (m) => this.log.warn(m),
    });
    this.server.on('GET', '/_api/version', () =>
      ok({ server: 'arango', version: SIM_VERSION, license: 'community', simulated: true }),
    );
    this.server.on(
      'GET',
      '/_admin/server/availability',
      () =>
        this.ready
          ? ok({ mode: 'default' })
          : { status: 503, body: { error: true, code: 503, errorNum: 503, errorMessage: 'service unavailable' } },
      { open: true },
    );
    this.server.on('GET', '/_admin/server/role', () => ok({ error: false, code: 200, errorNum: 0, role: this.role }));
    this.server.on('GET', '/_admin/server/id', () => ok({ error: false, code: 200, id: this.id }));
  }

  get endpoint(): string {
    return this.o.myAddress;
  }

  protected view(): ClusterView {
    return new ClusterView(this.cache.store);
  }

  async start(): Promise<void> {
    await this.server.start();
    this.log.info(
      `simulated ${this.role === 'PRIMARY' ? 'DB server' : 'coordinator'} ${this.id} listening on ${this.o.listen.host}:${this.server.port}, address ${this.o.myAddress}`,
    );
    await this.ensureInitialized();
    await this.register();
    await this.heartbeat().catch(() => undefined);
    this.hbTimer = this.lc.interval(this.o.heartbeatMs ?? 1000, () => void this.heartbeat().catch(() => undefined));
    void this.poolRefresher();
    this.cache.onChange((paths) => {
      if (paths === 'all' || paths.some((p) => p.startsWith('/.agency'))) this.adoptPool();
    });
    await this.cache.start();
    this.adoptPool();
    await this.onJoined();
    this.ready = true;
    await this.heartbeat().catch(() => undefined);
    this.log.info(`${this.id} (${this.shortName}) joined the simulated cluster`);
  }

  async stop(): Promise<void> {
    this.ready = false;
    this.lc.clear(this.hbTimer);
    this.lc.stop();
    this.cache.stop();
    this.onStopping();
    this.http.close();
    await this.server.stop();
    this.log.info(`${this.id} stopped`);
  }

  protected abstract onJoined(): Promise<void>;
  protected onStopping(): void {}

  private async ensureInitialized(): Promise<void> {
    const r = await this.agency.write([
      [{ '/arango': initialStructure() }, { '/arango/InitDone': { oldEmpty: true } }],
    ]);
    if (r.ok) this.log.info('initialised the agency structure');
  }

  private async register(): Promise<void> {
    const plural = this.role === 'PRIMARY' ? 'DBServers' : 'Coordinators';
    await this.agency.write([
      [
        { [`/arango/Plan/${plural}/${this.id}`]: 'none', '/arango/Plan/Version': { op: 'increment' } },
        { [`/arango/Plan/${plural}/${this.id}`]: { oldEmpty: true } },
      ],
    ]);
    await this.agency.write([
      [
        { [`/arango/Current/${plural}/${this.id}`]: 'none', '/arango/Current/Version': { op: 'increment' } },
        { [`/arango/Current/${plural}/${this.id}`]: { oldEmpty: true } },
      ],
    ]);
    // Short name: DB servers keep theirs, coordinators always take a new one.
    const latestKey = this.role === 'PRIMARY' ? 'LatestDBServerId' : 'LatestCoordinatorId';
    const label = this.role === 'PRIMARY' ? 'DBServer' : 'Coordinator';
    for (;;) {
      const [res] = (await this.agency.read([
        [`/arango/Target/${latestKey}`, `/arango/Target/MapUniqueToShortID/${this.id}`],
      ])) as Record<string, unknown>[];
      const target = asDict(asDict(asDict(res).arango).Target);
      const existing = asDict(asDict(target.MapUniqueToShortID)[this.id]);
      if (this.role === 'PRIMARY' && typeof existing.ShortName === 'string') {
        this.shortName = existing.ShortName;
        break;
      }
      const latest = typeof target[latestKey] === 'number' ? (target[latestKey] as number) : 0;
      const n = latest + 1;
      const name = `${label}${String(n).padStart(4, '0')}`;
      const w = await this.agency.write([
        [
          {
            [`/arango/Target/${latestKey}`]: n,
            [`/arango/Target/MapUniqueToShortID/${this.id}`]: { TransactionID: n, ShortName: name },
          },
          {
            [`/arango/Target/${latestKey}`]:
              typeof target[latestKey] === 'number' ? { old: latest } : { oldEmpty: true },
          },
        ],
      ]);
      if (w.ok) {
        this.shortName = name;
        break;
      }
    }
    const reg = {
      endpoint: this.o.myAddress,
      advertisedEndpoint: '',
      host: hostname(),
      version: SIM_VERSION_NUMBER,
      versionString: SIM_VERSION,
      engine: 'rocksdb',
      timestamp: new Date().toISOString(),
      numberOfCores: 2,
      physicalMemory: 0,
      extendedNamesDatabases: false,
      simulated: true,
    };
    const pre = this.freshId ? { [`/arango/Current/ServersKnown/${this.id}/rebootId`]: { oldEmpty: true } } : undefined;
    const w = await this.agency.write([
      [
        {
          [`/arango/Current/ServersRegistered/${this.id}`]: reg,
          [`/arango/Current/ServersKnown/${this.id}/rebootId`]: { op: 'increment' },
          '/arango/Current/Version': { op: 'increment' },
        },
        ...(pre ? [pre] : []),
      ],
    ]);
    if (!w.ok)
      throw new Error(
        `server ID ${this.id} is already known to the cluster: refusing to impersonate it with a fresh data directory`,
      );
  }

  /** The agency pool as replicated in the agency itself: the endpoints to use from now on. */
  protected agencyPool(): Record<string, string> {
    return asDict(this.cache.get('/.agency/pool')) as Record<string, string>;
  }

  private adoptPool(): void {
    const eps = Object.values(this.agencyPool()).filter((e) => typeof e === 'string');
    if (eps.length) this.agency.setEndpoints(eps);
  }

  private async heartbeat(): Promise<void> {
    await this.agency.transient(
      [
        [
          {
            [`/arango/Sync/ServerStates/${this.id}`]: {
              time: new Date().toISOString(),
              status: this.ready ? 'SERVING' : 'STARTUP',
            },
          },
        ],
      ],
      2000,
    );
  }

  private async poolRefresher(): Promise<void> {
    while (!this.lc.stopped) {
      await this.agency.refreshPool().catch(() => undefined);
      await this.lc.sleep(10_000).catch(() => undefined);
    }
  }
}
