// Process entry of one simulated ArangoDB member (agent, DB server or coordinator), started with the arguments
// an arangod container would get:
//   node --import tsx src/sim/arangod.ts --server.endpoint tcp://0.0.0.0:8529 --agency.activate true ...
// Environment (set by the test kubelet per pod): TRANSIT_SOURCE_ADDRESS (bind outbound sockets),
// TRANSIT_DNS_SERVER / TRANSIT_DNS_SEARCH (resolve host names like the pod's resolv.conf),
// TRANSIT_LISTEN_ADDRESS (listen here instead of --server.endpoint's host), TRANSIT_ROOTFS (prefix of absolute
// paths). SIGTERM/SIGINT stop the member cleanly; log lines go to stdout.
import { configFromArgs, createMember } from './args.js';

async function main(): Promise<void> {
  const line = (l: string): void => void process.stdout.write(l + '\n');
  const cfg = configFromArgs(process.argv.slice(2), process.env, (m) => line(`WARN [simulated arangod] ${m}`));
  const member = createMember(cfg, line, () => process.exit(1));
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    line(`INFO [simulated arangod] ${sig}: shutting down`);
    void member.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await member.start();
}

main().catch((e) => {
  process.stderr.write(`FATAL [simulated arangod] ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
