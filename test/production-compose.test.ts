/**
 * Container files that cannot be run here (no Docker engine): docker-compose.yml validated against the Compose
 * Specification's JSON Schema (the copy pinned in the npm package dclint@3.1.0; `docker compose config` instead
 * where the compose plugin exists), and the Dockerfile read for the paths and settings the build must line up.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './harness/temporal';

function composePlugin(): boolean {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function composeValidator() {
  // dclint's "exports" hide the file; its package.json is exported, and the schema sits beside it.
  const schema = JSON.parse(
    readFileSync(join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json'), 'utf8'),
  ) as Record<string, unknown>;
  assert.equal(schema.title, 'Compose Specification');
  // Draft-07 (Ajv's default); its "$schema" URL is spelled with https, which Ajv does not know by that name.
  delete schema.$schema;
  return new Ajv({ allErrors: true, strict: false }).compile(schema);
}

describe('docker-compose.yml', () => {
  const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const doc = parseYaml(text) as any;

  it('is valid Compose (the JSON Schema here; `docker compose config` where the plugin exists)', () => {
    if (composePlugin()) {
      execFileSync('docker', ['compose', '-f', join(ROOT, 'docker-compose.yml'), 'config', '--quiet'], {
        stdio: 'pipe',
      });
      return;
    }
    const validate = composeValidator();
    assert.equal(validate(doc), true, JSON.stringify(validate.errors, null, 1));
    // The schema really checks: a typo and a wrong type are caught.
    const broken = structuredClone(doc);
    broken.services['transit-worker'].restart_policy = 'always';
    broken.services.temporal.ports = 7233;
    assert.equal(validate(broken), false);
    const paths = (validate.errors ?? []).map((e) => e.instancePath);
    assert.ok(
      paths.includes('/services/transit-worker') && paths.includes('/services/temporal/ports'),
      JSON.stringify(paths),
    );
  });

  it('wires the worker to Temporal, pins its images and holds no secret', () => {
    const services = doc.services as Record<string, any>;
    assert.deepEqual(Object.keys(services).sort(), ['temporal', 'transit-cli', 'transit-worker']);
    const w = services['transit-worker'];
    assert.equal(w.environment.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(w.depends_on.temporal.condition, 'service_healthy');
    assert.ok(services.temporal.healthcheck, 'the worker waits for a health check');
    assert.ok(w.build, 'the worker image is built from the Dockerfile');
    for (const [name, s] of Object.entries(services)) {
      if (s.image) assert.match(s.image, /:(?!latest$)[\w.-]+$/, `${name}: a pinned image tag`);
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        assert.ok(
          !/(PASSWORD|TOKEN|SECRET|API_KEY)$/.test(k) || String(v).startsWith('/'),
          `${name}: ${k} holds a literal secret`,
        );
      }
    }
    for (const v of w.volumes as string[])
      assert.match(v, /:ro$/, `${v}: credentials and kubeconfig mounted read-only`);
  });
});

describe('Dockerfile (read, not built: no Docker engine here)', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const stages = lines.map((l, i) => ({ l, i })).filter((x) => /^FROM\s/i.test(x.l));

  it('is multi-stage with a pinned glibc base, and runs as a non-root user', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const s of stages)
      assert.match(
        s.l,
        /^FROM node:\d+\.\d+\.\d+-bookworm-slim\b/,
        'a pinned Debian (glibc) Node image: the core bridge has no musl build',
      );
    const final = lines.slice(stages[stages.length - 1]!.i);
    const user = final.filter((l) => /^USER\s/i.test(l)).pop();
    assert.ok(user && !/^USER\s+(root|0)(\s|:|$)/i.test(user), `the final stage runs as ${user ?? 'root'}`);
    assert.ok(
      final.some((l) => l.startsWith('COPY --from=build ')),
      'only build outputs are copied into the runtime stage',
    );
    assert.ok(!/^(ENV|ARG)\s.*(PASSWORD|TOKEN|SECRET|API_KEY)\s*=/im.test(text), 'no secret in the image');
  });

  it('points at files the build produces: the CLI entry, the workflow bundle, the metrics port', () => {
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'));
    const entry = /^ENTRYPOINT\s+\["node",\s*"([^"]+)"\]/m.exec(text)?.[1];
    assert.ok(entry, 'ENTRYPOINT ["node", "<file>"]');
    // tsc writes <outDir>/<path relative to rootDir>: lib/src/cli/main.ts → lib/src/cli/main.js.
    const source = entry!.replace(new RegExp(`^${tsconfig.compilerOptions.outDir}/`), '').replace(/\.js$/, '.ts');
    assert.equal(tsconfig.compilerOptions.rootDir, '.');
    assert.ok(
      readFileSync(join(ROOT, source), 'utf8').includes('require.main === module'),
      `${source} runs when started directly`,
    );
    const bundle = /TRANSIT_WORKFLOW_BUNDLE=(\S+)/.exec(text)?.[1];
    const rel = bundle?.replace(/^\/app\//, '');
    assert.ok(
      rel && (text.includes(`writeFileSync('${rel}'`) || text.includes(`writeWorkflowBundle('${rel}')`)),
      'the bundle the worker loads is the one the build writes',
    );
    const metricsPort = /TRANSIT_METRICS_ADDRESS=\S+:(\d+)/.exec(text)?.[1];
    assert.ok(new RegExp(`^EXPOSE\\s+${metricsPort}$`, 'm').test(text), 'EXPOSE the metrics port');
    assert.match(text, /^CMD \["worker"\]$/m);
  });
});
