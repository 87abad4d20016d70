// How the test kubelet runs a pod's "member": a pluggable launcher. The default starts a plain HTTP
// server answering /_api/version; the ArangoDB simulator plugs in through commandLauncher().
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { spawnProc, type ProcExit } from '../procs.js';
import type { Region } from '../network.js';

export interface LaunchSpec {
  pod: V1Pod;
  /** The member container (first container whose image matches arangodb/arangodb*, else the first). */
  container: V1Container;
  region: Region;
  /** The pod's IP: the address others connect to (through the controller's WAN proxy). */
  podIP: string;
  /** The address the member must listen on, on every port of `ports` (the proxy forwards there). */
  listenAddress: string;
  /** The container ports (TCP); [8529] when the pod declares none. */
  ports: number[];
  /**
   * The container's own arguments, arangod-like: command[1:] followed by args (command[0] is the
   * executable, e.g. /usr/sbin/arangod, which the launcher replaces).
   */
  args: string[];
  /**
   * The container's env (values and resolved valueFrom) plus:
   * TRANSIT_DNS_SERVER=ip:port, TRANSIT_DNS_SEARCH=<ns>.svc.cluster.local, TRANSIT_SOURCE_ADDRESS=<pod IP>
   * (bind outbound sockets to it), TRANSIT_LISTEN_ADDRESS, TRANSIT_PORTS=8529[,…], TRANSIT_POD_IP,
   * TRANSIT_POD_NAME, TRANSIT_POD_NAMESPACE, TRANSIT_REGION, TRANSIT_DATA_DIR.
   */
  env: Record<string, string>;
  /** Persistent data directory: per PVC when the pod mounts one (survives pod re-creation), else per pod. */
  dataDir: string;
  /** Where the member's stdout/stderr should go. */
  logFile: string;
}

export interface MemberHandle {
  pid?: number;
  /** Settles when the member has exited on its own or after stop(). */
  exited: Promise<ProcExit>;
  /** SIGTERM (or equivalent), then force after graceMs. */
  stop(graceMs: number): Promise<void>;
}

export interface MemberLauncher {
  start(spec: LaunchSpec): Promise<MemberHandle> | MemberHandle;
}

const HERE = __dirname;

/**
 * Runs `command [...prefixArgs, ...spec.args]` as a child process with spec.env on top of this process'
 * PATH/HOME. For a TypeScript entry: commandLauncher(process.execPath, ['--import', 'tsx', 'src/sim/x.ts']).
 */
export function commandLauncher(
  command: string,
  prefixArgs: string[] = [],
  opts: { cwd?: string } = {},
): MemberLauncher {
  return {
    start(spec) {
      const base: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_OPTIONS: process.env.NODE_OPTIONS,
        TMPDIR: process.env.TMPDIR,
      };
      const proc = spawnProc(
        `member ${spec.pod.metadata?.namespace}/${spec.pod.metadata?.name}`,
        command,
        [...prefixArgs, ...spec.args],
        {
          cwd: opts.cwd ?? join(HERE, '..', '..', '..'),
          env: { ...base, ...spec.env },
          logFile: spec.logFile,
        },
      );
      return {
        pid: proc.pid,
        exited: proc.exited,
        async stop(graceMs) {
          await proc.stop(graceMs);
        },
      };
    },
  };
}

/** The default member: an HTTP server answering GET /_api/version (see version-member.ts). */
export function versionServerLauncher(): MemberLauncher {
  return commandLauncher(process.execPath, ['--import', 'tsx', join(HERE, 'version-member.ts')]);
}

/**
 * The ArangoDB simulator (src/sim/arangod.ts, issue 3) as the member: it takes the pod's arangod
 * arguments and the TRANSIT_* environment. Fails at start if the simulator is not in the tree.
 */
export function arangodSimLauncher(entry = join(HERE, '..', '..', '..', 'src', 'sim', 'arangod.ts')): MemberLauncher {
  const inner = commandLauncher(process.execPath, ['--import', 'tsx', entry]);
  return {
    start(spec) {
      if (!existsSync(entry)) {
        throw new Error(
          `ArangoDB simulator entry ${entry} not found: use versionServerLauncher() until src/sim/arangod.ts exists`,
        );
      }
      return inner.start(spec);
    },
  };
}
