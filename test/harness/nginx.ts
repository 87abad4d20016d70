/**
 * A TLS endpoint in front of the Temporal dev server (which has no TLS options): Debian's nginx terminating TLS
 * and passing gRPC on (grpc_pass), with certificates made for each test run by the openssl CLI.
 *
 *   const pki = await makePki(dir);                 // CAs, server and client certificates (good, foreign, expired)
 *   const proxy = await startTlsProxy({ upstream: server.address, pki, apiKey });
 *   proxy.mtlsAddress    requires a client certificate signed by pki.ca (ssl_verify_client on)
 *   proxy.apiKeyAddress  server TLS only; requires `authorization: Bearer <apiKey>` (as Temporal Cloud)
 *   proxy.plainAddress   the dev server itself (no TLS)
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePorts, spawnProc, waitFor, type Proc } from './procs';
import { connect } from 'node:net';

const run = promisify(execFile);
export const NGINX = process.env.TRANSIT_NGINX ?? '/usr/sbin/nginx';
export const SERVER_NAME = 'temporal.test';

export interface Pki {
  dir: string;
  /** The CA that issued the server certificate and the accepted client certificates. */
  ca: string;
  /** Another CA: trusted by nobody here. */
  otherCa: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
  /** Issued by otherCa. */
  foreignClient: { cert: string; key: string };
  /** Issued by ca, valid 2020-01-01 to 2020-01-02. */
  expiredClient: { cert: string; key: string };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (e) {
    throw new Error(`openssl ${args.join(' ')}: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
}

/** ECDSA P-256 keys; v3 certificates with the extensions rustls (worker) and Node (client) both require. */
export async function makePki(dir: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    await openssl(
      [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        `${ca}.key`,
        '-out',
        `${ca}.crt`,
        '-days',
        '2',
        '-subj',
        `/CN=Transit test ${ca}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
  }
  writeFileSync(
    p('server.ext'),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${SERVER_NAME}\n`,
  );
  writeFileSync(
    p('client.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:transit-worker\n',
  );
  const issue = async (name: string, ca: string, ext: string, cn: string) => {
    await openssl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.crt`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        ext,
      ],
      dir,
    );
  };
  await issue('server', 'ca', 'server.ext', SERVER_NAME);
  await issue('client', 'ca', 'client.ext', 'transit-worker');
  await issue('foreign-client', 'other-ca', 'client.ext', 'transit-worker');
  // Expired: `openssl ca` is the CLI's way to set explicit dates (OpenSSL 3.0's x509 has only -days).
  mkdirSync(p('ca-db/new'), { recursive: true });
  writeFileSync(p('ca-db/index.txt'), '');
  writeFileSync(p('ca-db/serial'), '1000\n');
  writeFileSync(
    p('ca.cnf'),
    [
      '[ca]',
      'default_ca = d',
      '[d]',
      `database = ${p('ca-db/index.txt')}`,
      `new_certs_dir = ${p('ca-db/new')}`,
      `serial = ${p('ca-db/serial')}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'email_in_dn = no',
      'x509_extensions = client_ext',
      '[any]',
      'commonName = supplied',
      '[client_ext]',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth',
      'subjectAltName=DNS:transit-worker',
      '',
    ].join('\n'),
  );
  await openssl(
    [
      'req',
      '-new',
      ...ec,
      '-keyout',
      'expired-client.key',
      '-out',
      'expired-client.csr',
      '-subj',
      '/CN=transit-worker',
    ],
    dir,
  );
  await openssl(
    [
      'ca',
      '-batch',
      '-notext',
      '-config',
      'ca.cnf',
      '-cert',
      'ca.crt',
      '-keyfile',
      'ca.key',
      '-in',
      'expired-client.csr',
      '-out',
      'expired-client.crt',
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
    ],
    dir,
  );
  const pair = (n: string) => ({ cert: p(`${n}.crt`), key: p(`${n}.key`) });
  return {
    dir,
    ca: p('ca.crt'),
    otherCa: p('other-ca.crt'),
    server: pair('server'),
    client: pair('client'),
    foreignClient: pair('foreign-client'),
    expiredClient: pair('expired-client'),
  };
}

export interface TlsProxy {
  mtlsAddress: string;
  apiKeyAddress: string;
  plainAddress: string;
  proc: Proc;
  errorLog: string;
  stop(): Promise<void>;
}

export async function startTlsProxy(o: { upstream: string; pki: Pki; apiKey: string }): Promise<TlsProxy> {
  const dir = join(o.pki.dir, 'nginx');
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const [mtlsPort, apiPort] = await freePorts(2);
  const tls = [
    `ssl_certificate ${o.pki.server.cert};`,
    `ssl_certificate_key ${o.pki.server.key};`,
    'ssl_protocols TLSv1.2 TLSv1.3;',
  ];
  // Long polls last up to ~70 s: the gRPC timeouts must outlast them.
  const grpc = [
    'grpc_read_timeout 600s;',
    'grpc_send_timeout 600s;',
    'client_body_timeout 600s;',
    'client_max_body_size 0;',
    'keepalive_timeout 600s;',
    'keepalive_requests 1000000;',
  ];
  const conf = `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 512; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  map $http_authorization $api_key_ok { default 0; "Bearer ${o.apiKey}" 1; }
  upstream temporal { server ${o.upstream}; keepalive 16; }

  # mTLS: the client certificate must be issued by the test CA.
  server {
    listen 127.0.0.1:${mtlsPort} ssl http2;
    ${tls.join('\n    ')}
    ssl_client_certificate ${o.pki.ca};
    ssl_verify_client on;
    ssl_verify_depth 2;
    ${grpc.join('\n    ')}
    location / { grpc_pass grpc://temporal; }
  }

  # API key over TLS (what Temporal Cloud does): a wrong or missing key gets gRPC UNAUTHENTICATED.
  server {
    listen 127.0.0.1:${apiPort} ssl http2;
    ${tls.join('\n    ')}
    ${grpc.join('\n    ')}
    location / {
      default_type application/grpc;
      if ($api_key_ok = 0) {
        add_header grpc-status 16 always;
        add_header grpc-message "invalid or missing API key" always;
        return 200;
      }
      grpc_pass grpc://temporal;
    }
  }
}
`;
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const proc = spawnProc('nginx', NGINX, ['-p', dir, '-c', confPath, '-e', join(dir, 'error.log')], { graceMs: 5000 });
  for (const port of [mtlsPort, apiPort]) {
    await waitFor(`nginx on 127.0.0.1:${port}`, () => canConnect(port), {
      timeoutMs: 15_000,
      check: () => {
        if (proc.hasExited()) throw new Error(`nginx exited:\n${proc.tail()}`);
      },
    });
  }
  return {
    mtlsAddress: `127.0.0.1:${mtlsPort}`,
    apiKeyAddress: `127.0.0.1:${apiPort}`,
    plainAddress: o.upstream,
    proc,
    errorLog: join(dir, 'error.log'),
    async stop() {
      // SIGQUIT is nginx's graceful stop; SIGTERM (proc.stop) is its fast one: both end master and workers.
      await proc.stop();
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
