// `transit codec-server`: the codec endpoint for Temporal's Web UI (--ui-codec-endpoint) and CLI
// (--codec-endpoint); see src/codec-server.ts for the threat model. Runs until SIGINT/SIGTERM.
import { Command, Option } from 'commander';

interface Flags {
  listen: string;
  codecKeyFile?: string;
  uiOrigin: string[];
  tokenFile?: string;
  trustUiOrigin?: boolean;
  namespace: string[];
  tlsCert?: string;
  tlsKey?: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  program
    .command('codec-server')
    .description('serve POST /encode and /decode for the Temporal Web UI and CLI, with the payload encryption keys')
    .addOption(
      new Option('--listen <host:port>', 'address to listen on (loopback unless behind TLS and authentication)')
        .default('127.0.0.1:8888')
        .env('TRANSIT_CODEC_LISTEN'),
    )
    .addOption(
      new Option('--codec-key-file <file>', 'payload encryption keys (JSON), as for the worker').env(
        'TRANSIT_CODEC_KEY_FILE',
      ),
    )
    .option('--ui-origin <origin>', 'origin of the Temporal Web UI allowed to call (CORS); repeatable', collect, [])
    .addOption(
      new Option(
        '--token-file <file>',
        'bearer tokens allowed to call, one per line (CLI: temporal --codec-auth "Bearer …")',
      ).env('TRANSIT_CODEC_TOKEN_FILE'),
    )
    .option(
      '--trust-ui-origin',
      'let an allowed UI origin alone authorise, on a non-loopback address (only behind an authenticating proxy)',
    )
    .option('--namespace <name>', 'only these Temporal namespaces (X-Namespace); repeatable', collect, [])
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'and this key (PEM)')
    .action(async (o: Flags) => {
      if (!o.codecKeyFile)
        throw new Error('codec-server needs the key file: --codec-key-file or TRANSIT_CODEC_KEY_FILE');
      if (o.uiOrigin.length === 0 && !o.tokenFile)
        throw new Error('nobody could call it: give --ui-origin (the Web UI) and/or --token-file');
      if (!!o.tlsCert !== !!o.tlsKey) throw new Error('HTTPS needs both --tls-cert and --tls-key');
      const { startCodecServer } = require('../../codec-server') as typeof import('../../codec-server');
      const s = await startCodecServer({
        listen: o.listen,
        keyFile: o.codecKeyFile,
        uiOrigins: o.uiOrigin,
        tokenFile: o.tokenFile,
        trustUiOrigin: o.trustUiOrigin ? true : 'auto',
        namespaces: o.namespace,
        tls: o.tlsCert && o.tlsKey ? { certFile: o.tlsCert, keyFile: o.tlsKey } : undefined,
      });
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), component: 'codec-server', msg: `listening on ${s.url}`, uiOrigins: o.uiOrigin, tokens: !!o.tokenFile })}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => void s.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
