// DNS cutover activities against real BIND 9 (a primary and a secondary started by this test).
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { startBind, type BindZone } from './harness/bind';
import { worldSpec } from './harness/specs';
import { MigrationSpec } from '../src/spec/schema';
import { applyObjects, startClusters, WORKER_USER, type Clusters } from './harness/kube';
import {
  authoritativeServers,
  createDnsActivities,
  DnsAuthError,
  DnsConfigError,
  DnsConflictError,
  DnsUnavailableError,
  endpointObjectName,
  type DnsActivityDeps,
  type DnsEndpointSpec,
  type DnsSpec,
  type ServerView,
} from '../src/activities/dns';

const OLD = ['192.0.2.10', '192.0.2.11'];
const NEW = ['198.51.100.20', '198.51.100.21'];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let b: BindZone;
const spec = (over: Partial<DnsSpec> = {}): DnsSpec => ({
  provider: 'rfc2136',
  name: b.recordName,
  zone: b.zone,
  ttl: 2,
  primary: b.primary,
  servers: b.servers,
  tsigKey: { file: b.keyFile },
  ...over,
});
const fast: DnsActivityDeps = { queryTimeoutMs: 1_000, pollIntervalMs: 100 };
const acts = (deps: DnsActivityDeps = {}) => createDnsActivities({ ...fast, ...deps });

/** What a server answers for the record, straight from dig (not through the code under test). */
function digValues(server: string): string[] {
  const [host, port] = server.split(':');
  const out = execFileSync('dig', ['+short', '+norec', '+tcp', '-p', port!, `@${host}`, b.recordName, 'A']).toString();
  return out.split('\n').filter(Boolean).sort();
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('DNS cutover on BIND 9 (rfc2136)', () => {
  before(async () => {
    b = await startBind({ recordValues: OLD, recordTtl: 2 });
  });
  after(async () => {
    await b?.stop();
  });
  beforeEach(async () => {
    // Every test starts from both servers up, transfers allowed, the record at OLD with TTL 2, in sync.
    await b.startServer('primary');
    await b.startServer('secondary');
    await b.releaseSecondary();
    await b.nsupdate(
      `update delete ${b.recordName} A\n${OLD.map((v) => `update add ${b.recordName} 2 A ${v}`).join('\n')}`,
    );
    await until('the secondary to catch up', async () => (await b.serial('secondary')) === (await b.serial('primary')));
  });

  it('reads the record from the primary', async () => {
    const r = await acts().readRecord({ dns: spec() });
    assert.deepEqual(r, { name: b.recordName, type: 'A', values: OLD, ttl: 2 });
  });

  it('switches and restores with compare-and-set', async () => {
    const a = acts();
    const s = await a.switchRecord({ dns: spec(), from: OLD, to: NEW });
    assert.equal(s.changed, true);
    assert.deepEqual(s.record.values, NEW);
    assert.deepEqual(digValues(b.primary), NEW);
    const r = await a.restoreRecord({ dns: spec(), from: NEW, to: OLD });
    assert.equal(r.changed, true);
    assert.deepEqual(digValues(b.primary), OLD);
    assert.deepEqual((await a.readRecord({ dns: spec() })).ttl, 2, 'the TTL is kept when none is given');
  });

  it('a retried switch is a no-op', async () => {
    const a = acts();
    await a.switchRecord({ dns: spec(), from: OLD, to: NEW });
    const serial = await b.serial('primary');
    const again = await a.switchRecord({ dns: spec(), from: OLD, to: NEW });
    assert.equal(again.changed, false);
    assert.deepEqual(again.record.values, NEW);
    assert.equal(await b.serial('primary'), serial, 'no update was sent');
  });

  it('refuses to overwrite a record changed behind its back', async () => {
    await b.nsupdate(`update delete ${b.recordName} A\nupdate add ${b.recordName} 2 A 203.0.113.66`);
    const serial = await b.serial('primary');
    await assert.rejects(acts().switchRecord({ dns: spec(), from: OLD, to: NEW }), (e: unknown) => {
      assert.ok(e instanceof DnsConflictError);
      assert.ok(e instanceof ApplicationFailure);
      assert.equal(e.nonRetryable, true);
      assert.equal(e.type, 'DnsConflictError');
      assert.match(e.message, new RegExp(b.recordName.replace(/\./g, '\\.')));
      assert.match(e.message, /expected \[192\.0\.2\.10, 192\.0\.2\.11\]/);
      assert.match(e.message, /found \[203\.0\.113\.66\]/);
      return true;
    });
    assert.deepEqual(digValues(b.primary), ['203.0.113.66'], 'nothing was overwritten');
    assert.equal(await b.serial('primary'), serial);
  });

  it('waits for propagation until both servers answer the new values, then waits out the old TTL', async () => {
    const beats: Array<{ phase: string; servers?: ServerView[] }> = [];
    const a = acts({ heartbeat: (d) => beats.push(d as (typeof beats)[number]) });
    await b.holdSecondary();
    const s = await a.switchRecord({ dns: spec(), from: OLD, to: NEW });
    let done = false;
    const wait = a.waitForPropagation({
      dns: spec(),
      values: NEW,
      oldTtl: 1,
      switchedAt: s.switchedAt,
      timeoutMs: 20_000,
    });
    void wait.then(
      () => (done = true),
      () => (done = true),
    );
    await sleep(1_500);
    assert.equal(done, false, 'must not return while the secondary still answers the old values');
    assert.deepEqual(digValues(b.secondary), OLD, 'the secondary really was held back');
    const last = beats.filter((x) => x.phase === 'servers').at(-1)!;
    assert.deepEqual(
      last.servers!.map((v) => [v.server, v.state, v.values]),
      [
        [b.primary, 'matched', NEW],
        [b.secondary, 'other', OLD],
      ],
    );
    const released = Date.now();
    await b.releaseSecondary();
    const r = await wait;
    assert.deepEqual(digValues(b.secondary), NEW);
    assert.ok(r.propagatedMs >= 1_500, `propagated ${r.propagatedMs} ms counts from the switch`);
    assert.ok(r.ttlWaitMs >= 1_000 && r.ttlWaitMs < 3_000, `TTL wait ${r.ttlWaitMs} ms`);
    const sec = r.servers.find((x) => x.server === b.secondary)!;
    assert.ok(sec.answeredAfterMs >= released - s.switchedAt, 'the secondary answered only after release');
    assert.ok(beats.some((x) => x.phase === 'ttl'));
  });

  it('heartbeats through @temporalio/activity and honours cancellation inside an activity', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const a = acts(); // no injected heartbeat/signal: the activity context supplies them
    await b.holdSecondary();
    await a.switchRecord({ dns: spec(), from: OLD, to: NEW });
    const wait = env.run(a.waitForPropagation, { dns: spec(), values: NEW, oldTtl: 1 });
    await until('a heartbeat', () => beats.length > 0);
    env.cancel();
    await assert.rejects(wait, (e: unknown) => e instanceof CancelledFailure);
    assert.equal((beats[0] as { phase: string }).phase, 'servers');
  });

  it('a stopped primary is a retryable error, and a retried switch succeeds once it returns', async () => {
    const a = acts();
    await b.stopServer('primary');
    await assert.rejects(a.switchRecord({ dns: spec(), from: OLD, to: NEW }), (e: unknown) => {
      assert.ok(e instanceof DnsUnavailableError);
      assert.equal(e.nonRetryable, false);
      assert.match(e.message, new RegExp(b.primary));
      return true;
    });
    // Retry as Temporal's retry policy would (retry while not nonRetryable), with the server back after 1 s.
    const restart = sleep(1_000).then(() => b.startServer('primary'));
    let attempts = 0;
    const t0 = Date.now();
    for (;;) {
      attempts++;
      try {
        const r = await a.switchRecord({ dns: spec(), from: OLD, to: NEW });
        assert.equal(r.changed, true);
        break;
      } catch (e) {
        if (!(e instanceof ApplicationFailure) || e.nonRetryable || Date.now() - t0 > 15_000) throw e;
        await sleep(200);
      }
    }
    await restart;
    assert.ok(attempts > 1, `retried (${attempts} attempts)`);
    assert.deepEqual(digValues(b.primary), NEW);
  });

  it('a hung primary (accepts, never answers) times out as a retryable error', async () => {
    b.pauseServer('primary');
    try {
      const t0 = Date.now();
      await assert.rejects(acts().readRecord({ dns: spec() }), (e: unknown) => {
        assert.ok(e instanceof DnsUnavailableError, String(e));
        assert.equal(e.nonRetryable, false);
        return true;
      });
      assert.ok(Date.now() - t0 < 8_000, 'bounded by the query timeout');
    } finally {
      b.resumeServer('primary');
    }
  });

  it('a stopped secondary is polled until it returns with the new values', async () => {
    const beats: Array<{ phase: string; servers?: ServerView[] }> = [];
    const a = acts({ heartbeat: (d) => beats.push(d as (typeof beats)[number]) });
    await b.stopServer('secondary');
    await a.switchRecord({ dns: spec(), from: OLD, to: NEW });
    let done = false;
    const wait = a.waitForPropagation({ dns: spec(), values: NEW, oldTtl: 0, timeoutMs: 20_000 });
    void wait.then(
      () => (done = true),
      () => (done = true),
    );
    await sleep(1_000);
    assert.equal(done, false);
    const sec = beats.at(-1)!.servers!.find((v) => v.server === b.secondary)!;
    assert.equal(sec.state, 'unreachable');
    // Restarted from its zone file, the secondary trusts it until the SOA refresh; the primary's NOTIFY brings it up to date.
    await b.startServer('secondary');
    await b.notify();
    const r = await wait;
    assert.ok(r.propagatedMs >= 1_000);
    assert.deepEqual(digValues(b.secondary), NEW);
  });

  it('a wrong TSIG secret is a non-retryable error naming the key and the zone', async () => {
    const wrong = join(b.dir, 'wrong.key');
    writeFileSync(wrong, execFileSync('tsig-keygen', ['-a', 'hmac-sha256', b.keyName]));
    const wrongSecret = /secret "([^"]+)"/.exec(readFileSync(wrong, 'utf8'))![1]!;
    await assert.rejects(
      acts().switchRecord({ dns: spec({ tsigKey: { file: wrong } }), from: OLD, to: NEW }),
      (e: unknown) => {
        assert.ok(e instanceof DnsAuthError, String(e));
        assert.equal(e.nonRetryable, true);
        assert.equal(e.rcode, 'BADSIG');
        assert.match(e.message, new RegExp(`TSIG key ${b.keyName}`));
        assert.match(e.message, /zone cutover\.test\./);
        assert.match(e.message, /install the matching key/);
        assert.ok(
          !e.message.includes(wrongSecret) && !String(e.cause).includes(wrongSecret),
          'no key material in errors',
        );
        return true;
      },
    );
    assert.deepEqual(digValues(b.primary), OLD);
  });

  it('an unknown TSIG key and an update sent to a secondary are non-retryable, with what to fix', async () => {
    const other = join(b.dir, 'other.key');
    writeFileSync(other, execFileSync('tsig-keygen', ['-a', 'hmac-sha256', 'someone-else']));
    await assert.rejects(
      acts().switchRecord({ dns: spec({ tsigKey: { file: other } }), from: OLD, to: NEW }),
      (e: unknown) => {
        assert.ok(e instanceof DnsAuthError);
        assert.equal(e.rcode, 'BADKEY');
        assert.match(e.message, /someone-else.*BADKEY.*add the key to the server/);
        return true;
      },
    );
    await assert.rejects(
      acts().switchRecord({ dns: spec({ primary: b.secondary }), from: OLD, to: NEW }),
      (e: unknown) => {
        assert.ok(e instanceof DnsAuthError);
        assert.equal(e.rcode, 'REFUSED');
        assert.equal(e.nonRetryable, true);
        assert.match(
          e.message,
          new RegExp(`zone cutover\\.test\\. on ${b.secondary} REFUSED.*${b.keyName}.*not a secondary`),
        );
        return true;
      },
    );
    await assert.rejects(
      acts().switchRecord({ dns: spec({ tsigKey: { file: join(b.dir, 'missing.key') } }), from: OLD, to: NEW }),
      (e: unknown) => {
        assert.ok(e instanceof DnsConfigError);
        assert.match(e.message, /missing\.key.*ENOENT/);
        return true;
      },
    );
  });

  it('a malformed key is a config error that does not echo the key material', async () => {
    const bad = join(b.dir, 'bad.key');
    writeFileSync(bad, `key "${b.keyName}" { algorithm hmac-sha256; secret "c2VjcmV0!!notbase64"; };\n`);
    await assert.rejects(
      acts().switchRecord({ dns: spec({ tsigKey: { file: bad } }), from: OLD, to: NEW }),
      (e: unknown) => {
        assert.ok(e instanceof DnsConfigError, String(e));
        assert.equal(e.nonRetryable, true);
        assert.ok(!`${e.message} ${String(e.cause)}`.includes('c2VjcmV0'), e.message);
        assert.match(e.message, /\[secret\]/);
        return true;
      },
    );
  });

  it('reads the TSIG key from a Kubernetes Secret reference through the injected reader', async () => {
    const asked: unknown[] = [];
    const a = acts({
      readSecret: async (ref) => {
        asked.push(ref);
        return readFileSync(b.keyFile, 'utf8');
      },
    });
    const dns = spec({ tsigKey: { secret: { name: 'dns-tsig', key: 'tsig.key', namespace: 'transit' } } });
    assert.equal((await a.switchRecord({ dns, from: OLD, to: NEW })).changed, true);
    assert.deepEqual(asked, [{ name: 'dns-tsig', key: 'tsig.key', namespace: 'transit' }]);
    await assert.rejects(acts().switchRecord({ dns, from: NEW, to: OLD }), /no Kubernetes secret reader/);
  });

  it('lowers the TTL ahead of the cutover (waiting out the old one) and restores it afterwards', async () => {
    const a = acts();
    const dns = spec({ lowerTtl: 1 });
    const low = await a.lowerTtl({ dns });
    assert.equal(low.changed, true);
    assert.equal(low.previousTtl, 2);
    assert.ok(low.ttlWaitMs >= 2_000, `waited out the old TTL: ${low.ttlWaitMs} ms`);
    assert.deepEqual(await a.readRecord({ dns }), { name: b.recordName, type: 'A', values: OLD, ttl: 1 });
    // The switch keeps the lowered TTL.
    await a.switchRecord({ dns, from: OLD, to: NEW });
    assert.equal((await a.readRecord({ dns })).ttl, 1);
    const back = await a.restoreTtl({ dns });
    assert.equal(back.changed, true);
    assert.deepEqual(await a.readRecord({ dns }), { name: b.recordName, type: 'A', values: NEW, ttl: 2 });
    assert.equal((await a.restoreTtl({ dns })).changed, false, 'restoring again is a no-op');
  });

  it('derives the authoritative servers from the NS records when none are listed', async () => {
    const a = acts({ nameServerPort: b.primaryPort });
    // Both NS names (ns1, ns2) point to 127.0.0.1; with port = the primary's port they are one server.
    const dns = spec({ servers: undefined });
    const servers = await authoritativeServers(dns, {
      tools: { dig: 'dig', nsupdate: 'nsupdate' },
      queryTimeoutMs: 1_000,
      pollIntervalMs: 100,
      heartbeat: () => undefined,
      sleep,
      now: Date.now,
      nameServerPort: b.primaryPort,
    });
    assert.deepEqual(
      servers.map((s) => s.host + ':' + s.port),
      [b.primary],
    );
    await a.switchRecord({ dns, from: OLD, to: NEW });
    const r = await a.waitForPropagation({ dns, values: NEW, oldTtl: 0, timeoutMs: 20_000 });
    assert.equal(r.servers.length, 1);
  });

  it('switches a CNAME (type detected, names compared without case or trailing dot)', async () => {
    const alias = `alias.${b.zone}`;
    await b.nsupdate(`update delete ${alias}\nupdate add ${alias} 2 CNAME Coordinators.EU.example.`);
    const a = acts();
    const dns = spec({ name: alias.slice(0, -1) });
    assert.deepEqual(await a.readRecord({ dns }), {
      name: alias,
      type: 'CNAME',
      values: ['coordinators.eu.example.'],
      ttl: 2,
    });
    const s = await a.switchRecord({ dns, from: ['coordinators.eu.example'], to: ['coordinators.us.example'] });
    assert.equal(s.changed, true);
    const r = await a.waitForPropagation({ dns, values: ['COORDINATORS.us.example.'], oldTtl: 0, timeoutMs: 20_000 });
    assert.equal(r.servers.length, 2);
    await assert.rejects(
      a.switchRecord({ dns, from: ['coordinators.eu.example'], to: ['x.example', 'y.example'] }),
      /takes one value/,
    );
  });

  it('switches a CNAME written without recordType, as the schema parses it (the type is read, not assumed A)', async () => {
    const alias = `plain-alias.${b.zone}`;
    await b.nsupdate(`update delete ${alias}\nupdate add ${alias} 2 CNAME coordinators.eu.example.`);
    const parsed = MigrationSpec.parse({
      ...worldSpec(),
      dns: {
        provider: 'rfc2136',
        name: alias,
        zone: b.zone,
        ttl: 2,
        primary: b.primary,
        servers: b.servers,
        tsigKey: { file: b.keyFile },
      },
    });
    assert.equal(parsed.dns.recordType, undefined, 'the schema leaves recordType to be detected');
    const a = acts();
    const before = await a.readRecord({ dns: parsed.dns });
    assert.deepEqual(
      before,
      { name: alias, type: 'CNAME', values: ['coordinators.eu.example.'], ttl: 2 },
      'read as the CNAME it is',
    );
    const s = await a.switchRecord({ dns: parsed.dns, from: before.values, to: ['coordinators.us.example.'] });
    assert.equal(s.record.type, 'CNAME');
    const r = await a.waitForPropagation({
      dns: parsed.dns,
      values: ['coordinators.us.example.'],
      oldTtl: 0,
      timeoutMs: 20_000,
    });
    assert.equal(r.servers.length, 2);
    const dig = execFileSync('dig', [
      '+short',
      '+norec',
      '+tcp',
      '-p',
      b.primary.split(':')[1]!,
      `@${b.primary.split(':')[0]}`,
      alias,
      'CNAME',
    ]).toString();
    assert.deepEqual(dig.trim().split('\n'), ['coordinators.us.example.'], 'the CNAME now points at the target');
  });

  it('refuses IPv6 values without recordType (the schema offers A and CNAME only) and names the fix', async () => {
    await assert.rejects(
      acts().waitForPropagation({ dns: spec(), values: ['2001:db8::1'], oldTtl: 0, timeoutMs: 1_000 }),
      (e: unknown) => {
        assert.ok(e instanceof DnsConfigError, String(e));
        assert.match((e as Error).message, /need an AAAA record.*IPv4 address or a DNS name/);
        return true;
      },
    );
  });

  it('measures switch → propagated on the two-server zone', async () => {
    const a = acts({ pollIntervalMs: 10 });
    const times: number[] = [];
    let from = OLD;
    for (let i = 0; i < 5; i++) {
      const to = i % 2 === 0 ? NEW : OLD;
      const s = await a.switchRecord({ dns: spec(), from, to });
      const r = await a.waitForPropagation({
        dns: spec(),
        values: to,
        oldTtl: 0,
        switchedAt: s.switchedAt,
        timeoutMs: 20_000,
      });
      times.push(r.propagatedMs);
      from = to;
    }
    const sorted = [...times].sort((x, y) => x - y);
    const line = `switch→propagated on 2 BIND servers (NOTIFY + IXFR, 10 ms polls): median ${sorted[2]} ms, min ${sorted[0]} ms, max ${sorted[4]} ms (${times.join(', ')})`;
    console.log(line);
    assert.ok(sorted[4]! < 5_000, line);
  });

  describe('external-dns provider and Secret references, on real Kubernetes API servers', () => {
    let clusters: Clusters;
    const NS = 'transit-dns';
    const kubeConfig = () => {
      const kc = new KubeConfig();
      kc.loadFromFile(clusters.kubeconfigPath);
      return kc;
    };
    // The worker (context "eu": user transit-worker) may touch DNSEndpoints and read Secrets in NS only.
    const rbac: KubernetesObject[] = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'transit-dns', namespace: NS },
        rules: [
          { apiGroups: ['externaldns.k8s.io'], resources: ['dnsendpoints'], verbs: ['get', 'create', 'update'] },
          { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
        ],
      } as KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'transit-dns', namespace: NS },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'transit-dns' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: WORKER_USER }],
      } as KubernetesObject,
    ];
    const xspec = (over: Partial<DnsSpec> = {}): DnsSpec =>
      spec({ provider: 'external-dns', externalDns: { context: 'eu', namespace: NS }, tsigKey: undefined, ...over });
    const admin = () => KubernetesObjectApi.makeApiClient(clusters.eu.kubeConfig('admin'));
    const endpointsNow = async (dns: DnsSpec) =>
      (
        await admin().read<KubernetesObject & { spec: { endpoints: DnsEndpointSpec[] } }>({
          apiVersion: 'externaldns.k8s.io/v1alpha1',
          kind: 'DNSEndpoint',
          metadata: { name: endpointObjectName(dns), namespace: NS },
        })
      ).spec.endpoints;

    before(async () => {
      clusters = await startClusters({ controllers: false, kcm: false, manifests: rbac });
    });
    after(async () => {
      await clusters?.stop();
    });

    it('creates, switches, no-ops on retry and restores a DNSEndpoint as the worker', async () => {
      const a = acts({ kubeConfig });
      const dns = xspec();
      assert.deepEqual((await a.readRecord({ dns })).values, []);
      assert.equal((await a.switchRecord({ dns, from: [], to: OLD })).changed, true);
      assert.deepEqual(await a.readRecord({ dns }), { name: b.recordName, type: 'A', values: OLD, ttl: 2 });
      assert.equal((await a.switchRecord({ dns, from: OLD, to: NEW })).changed, true);
      assert.equal((await a.switchRecord({ dns, from: OLD, to: NEW })).changed, false, 'a retry is a no-op');
      assert.deepEqual(await endpointsNow(dns), [
        { dnsName: b.recordName.slice(0, -1), recordType: 'A', targets: NEW, recordTTL: 2 },
      ]);
      assert.equal((await a.restoreRecord({ dns, from: NEW, to: OLD })).changed, true);
      assert.deepEqual((await a.readRecord({ dns })).values, OLD);
    });

    it('reports a change made behind its back as a conflict and keeps other endpoints', async () => {
      const a = acts({ kubeConfig });
      const dns = xspec({ externalDns: { context: 'eu', namespace: NS, name: 'conflict' } });
      await a.switchRecord({ dns, from: [], to: OLD });
      const other: DnsEndpointSpec = { dnsName: 'other.cutover.test', recordType: 'A', targets: ['192.0.2.99'] };
      const obj = await admin().read<KubernetesObject & { spec: { endpoints: DnsEndpointSpec[] } }>({
        apiVersion: 'externaldns.k8s.io/v1alpha1',
        kind: 'DNSEndpoint',
        metadata: { name: 'conflict', namespace: NS },
      });
      obj.spec.endpoints = [{ ...obj.spec.endpoints[0]!, targets: ['203.0.113.66'] }, other];
      await admin().replace(obj);
      await assert.rejects(a.switchRecord({ dns, from: OLD, to: NEW }), (e: unknown) => {
        assert.ok(e instanceof DnsConflictError);
        assert.match(e.message, /DNSEndpoint transit-dns\/conflict in context eu.*found \[203\.0\.113\.66\]/);
        return true;
      });
      const eps = await endpointsNow(dns);
      assert.deepEqual(
        eps.map((x) => x.targets),
        [['203.0.113.66'], ['192.0.2.99']],
        'nothing overwritten',
      );
      // Set back by its owner, the switch goes through and leaves the other endpoint alone.
      await a.switchRecord({ dns, from: ['203.0.113.66'], to: NEW });
      assert.deepEqual(
        (await endpointsNow(dns)).find((x) => x.dnsName === 'other.cutover.test'),
        other,
      );
    });

    it('a namespace the worker may not write is a non-retryable error naming context and namespace', async () => {
      await assert.rejects(
        acts({ kubeConfig }).switchRecord({
          dns: xspec({ externalDns: { context: 'eu', namespace: 'default' } }),
          from: [],
          to: OLD,
        }),
        (e: unknown) => {
          assert.ok(e instanceof DnsAuthError, String(e));
          assert.equal(e.nonRetryable, true);
          assert.match(
            e.message,
            /DNSEndpoint default\/.* in context eu.*403.*grant the worker's user get on dnsendpoints/,
          );
          return true;
        },
      );
      await assert.rejects(
        acts({ kubeConfig }).readRecord({ dns: xspec({ externalDns: { context: 'mars', namespace: NS } }) }),
        /kube context mars is not in the worker's kubeconfig/,
      );
    });

    it('an unreachable API server is retryable', async () => {
      const a = acts({ kubeConfig });
      const dns = xspec({ externalDns: { context: 'eu', namespace: NS, name: 'outage' } });
      await clusters.eu.stopApiServer();
      try {
        await assert.rejects(a.switchRecord({ dns, from: [], to: OLD }), (e: unknown) => {
          assert.ok(e instanceof DnsUnavailableError, String(e));
          assert.equal(e.nonRetryable, false);
          return true;
        });
      } finally {
        await clusters.eu.startApiServer();
      }
      assert.equal((await a.switchRecord({ dns, from: [], to: OLD })).changed, true);
    });

    it('reads the TSIG key of an rfc2136 update from a Kubernetes Secret', async () => {
      await applyObjects(clusters.eu.kubeConfig('admin'), [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'dns-tsig', namespace: NS },
          data: { 'tsig.key': readFileSync(b.keyFile).toString('base64') },
        } as KubernetesObject,
      ]);
      const a = acts({ kubeConfig });
      const dns = spec({ tsigKey: { secret: { name: 'dns-tsig', key: 'tsig.key', namespace: NS, context: 'eu' } } });
      assert.equal((await a.switchRecord({ dns, from: OLD, to: NEW })).changed, true);
      assert.deepEqual(digValues(b.primary), NEW);
      const wrongKey = spec({ tsigKey: { secret: { name: 'dns-tsig', key: 'nope', namespace: NS, context: 'eu' } } });
      await assert.rejects(
        a.switchRecord({ dns: wrongKey, from: NEW, to: OLD }),
        /has no key nope \(it has tsig\.key\)/,
      );
    });
  });
});
