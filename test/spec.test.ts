/**
 * The migration spec at the edges: at least 30 malformed specs, each rejected with a message that names the
 * field path; good specs (the example, JSON and YAML) accepted; the JSON Schema exported.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { stringify } from 'yaml';
import { validateSpec } from '../src/spec/validate';
import { parseSpecText } from '../src/spec/text';
import { specJsonSchema } from '../src/spec/schema';
import { worldSpec } from './harness/specs';

const good = () => JSON.parse(JSON.stringify(worldSpec())) as Record<string, any>;

/** [title, mutation of a good spec, the field path the message must name]. */
const MALFORMED: [string, (s: Record<string, any>) => unknown, string][] = [
  ['unknown top-level key', (s) => ({ ...s, extra: 1 }), 'extra'],
  ['missing deployment', (s) => ({ ...s, deployment: undefined }), 'deployment'],
  ['deployment name not a DNS label', (s) => ((s.deployment.name = 'Arango_DB'), s), 'deployment.name'],
  ['deployment namespace empty', (s) => ((s.deployment.namespace = ''), s), 'deployment.namespace'],
  ['deployment is a string', (s) => ({ ...s, deployment: 'arango' }), 'deployment'],
  ['source missing context', (s) => (delete s.source.context, s), 'source.context'],
  ['source region a number', (s) => ((s.source.region = 7), s), 'source.region'],
  ['source has a password', (s) => ((s.source.password = 'hunter2'), s), 'source.password'],
  ['target namespace with upper case', (s) => ((s.target.namespace = 'DB'), s), 'target.namespace'],
  ['source = target', (s) => ((s.target.context = s.source.context), s), 'target.context'],
  [
    'source kubeconfig given inline',
    (s) => ((s.source.kubeconfig = 'apiVersion: v1\nclusters: []'), s),
    'source.kubeconfig',
  ],
  ['network mode unknown', (s) => ((s.network.mode = 'vpn'), s), 'network.mode'],
  ['network missing', (s) => ({ ...s, network: undefined }), 'network'],
  [
    'clustermesh CIDR malformed',
    (s) => ((s.network = { mode: 'clustermesh', clusterMesh: { sourcePodCIDRs: ['10.10.0.0'] } }), s),
    'network.clusterMesh.sourcePodCIDRs[0]',
  ],
  [
    'loadbalancer port out of range',
    (s) => ((s.network = { mode: 'loadbalancer', loadBalancer: { firstPort: 80 } }), s),
    'network.loadBalancer.firstPort',
  ],
  [
    'loadbalancer options under the wrong mode',
    (s) => ((s.network = { mode: 'clustermesh', loadBalancer: {} }), s),
    'network.loadBalancer',
  ],
  ['dns provider unknown', (s) => ((s.dns.provider = 'route53'), s), 'dns.provider'],
  ['dns name not fully qualified', (s) => ((s.dns.name = 'db.example.test'), s), 'dns.name'],
  ['dns name outside the zone', (s) => ((s.dns.name = 'db.other.test.'), s), 'dns.name'],
  ['dns ttl a string', (s) => ((s.dns.ttl = '30'), s), 'dns.ttl'],
  ['dns ttl zero', (s) => ((s.dns.ttl = 0), s), 'dns.ttl'],
  ['dns ttl not an integer', (s) => ((s.dns.ttl = 2.5), s), 'dns.ttl'],
  ['rfc2136 without a TSIG key', (s) => (delete s.dns.tsigKey, s), 'dns.tsigKey'],
  ['TSIG key given inline', (s) => ((s.dns.tsigKey = { secret: 'c2VjcmV0', name: 'k' }), s), 'dns.tsigKey'],
  ['TSIG key as a bare string', (s) => ((s.dns.tsigKey = 'hmac-sha256:k:c2VjcmV0'), s), 'dns.tsigKey'],
  ['external-dns without its target', (s) => ((s.dns.provider = 'external-dns'), s), 'dns.externalDns'],
  ['dns server without port', (s) => ((s.dns.servers = ['10.0.0.53']), s), 'dns.servers[0]'],
  ['lowerTtl above ttl', (s) => ((s.dns.lowerTtl = 600), s), 'dns.lowerTtl'],
  ['arango endpoint not a URL', (s) => ((s.arango.endpoint = 'arango:8529'), s), 'arango.endpoint'],
  [
    'arango JWT given inline',
    (s) => ((s.arango.jwtSecret = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJhcmFuZ29kYiJ9.sig'), s),
    'arango.jwtSecret',
  ],
  [
    'arango JWT secret reference without key',
    (s) => ((s.arango.jwtSecret = { secret: { name: 'arango-jwt' } }), s),
    'arango.jwtSecret.secret.key',
  ],
  ['arango password field', (s) => ((s.arango.password = 'root'), s), 'arango.password'],
  ['policy concurrency zero', (s) => ((s.policy.maxConcurrentShardMoves = 0), s), 'policy.maxConcurrentShardMoves'],
  [
    'policy concurrency too high',
    (s) => ((s.policy.maxConcurrentShardMoves = 5000), s),
    'policy.maxConcurrentShardMoves',
  ],
  ['policy bandwidth negative', (s) => ((s.policy.bandwidthBytesPerSecond = -1), s), 'policy.bandwidthBytesPerSecond'],
  ['policy requireApproval a string', (s) => ((s.policy.requireApproval = 'yes'), s), 'policy.requireApproval'],
  [
    'policy timeout too short',
    (s) => ((s.policy.timeouts = { shardSyncSeconds: 1 }), s),
    'policy.timeouts.shardSyncSeconds',
  ],
  ['policy unknown timeout', (s) => ((s.policy.timeouts = { forever: 1 }), s), 'policy.timeouts.forever'],
  ['top level is a list', () => [1, 2], '(top level)'],
  ['top level is null', () => null, '(top level)'],
];

describe('migration spec validation', () => {
  it(`rejects ${MALFORMED.length} malformed specs, each with a message naming the field`, () => {
    assert.ok(MALFORMED.length >= 30);
    for (const [title, mutate, path] of MALFORMED) {
      const r = validateSpec(mutate(good()));
      assert.equal(r.ok, false, `${title}: accepted`);
      if (r.ok) continue;
      assert.ok(
        r.problems.some((p) => p.startsWith(`${path}:`) || p.startsWith(`${path}.`) || p.startsWith(`${path}[`)),
        `${title}: no message names ${path}: ${JSON.stringify(r.problems)}`,
      );
    }
  });

  it('never echoes a long inline credential back in a message', () => {
    const s = good();
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJhcmFuZ29kYiJ9.c2lnbmF0dXJlLXNlY3JldA';
    s.arango.jwtSecret = jwt;
    const r = validateSpec(s);
    assert.equal(r.ok, false);
    assert.ok(!JSON.stringify(r).includes(jwt));
  });

  it('reports every problem at once, one line each', () => {
    const s = good();
    s.dns.ttl = 'x';
    s.policy.maxConcurrentShardMoves = 0;
    s.target.context = s.source.context;
    const r = validateSpec(s);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.problems.length, 3);
  });

  it('rejects text that is empty, not YAML, or not a mapping', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['   \n', /empty/],
      ['deployment: [unclosed', /not valid YAML/],
      ['a: 1\na: 2', /not valid YAML/],
      ['- just\n- a list', /expected a mapping/],
      ['42', /expected a mapping/],
    ];
    for (const [text, re] of cases) {
      const r = parseSpecText(text);
      assert.equal(r.ok, false, JSON.stringify(text));
      if (!r.ok) assert.match(r.problems.join('\n'), re);
    }
  });

  it('accepts the commented example, and the same spec as JSON and as YAML, applying defaults', () => {
    const example = parseSpecText(readFileSync(join(__dirname, '..', 'examples', 'migration.yaml'), 'utf8'));
    assert.equal(example.ok, true, JSON.stringify(example));
    const json = parseSpecText(JSON.stringify(good()));
    const yaml = parseSpecText(stringify(good()));
    assert.equal(json.ok && yaml.ok, true);
    if (json.ok && yaml.ok) {
      assert.deepEqual(json.spec, yaml.spec);
      assert.equal(json.spec.policy.timeouts.shardSyncSeconds, 6 * 3600);
      assert.equal(
        json.spec.dns.recordType,
        undefined,
        'no default: the DNS activities read whether the name is a CNAME or A',
      );
    }
  });

  it('exports a JSON Schema that accepts the good spec and rejects unknown keys', () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(specJsonSchema());
    assert.equal(validate(good()), true, JSON.stringify(validate.errors));
    assert.equal(validate({ ...good(), extra: 1 }), false);
  });
});
