// A bridge mode: how a member in one cluster is reached from the other (spec.network.mode). Everything that
// differs between modes lives in the mode's own file; bridge.ts, agents.ts, remove.ts and preflight.ts only
// call this interface. The bridge Service in the other cluster (a Service without selector, named like the
// member's own Service, with an EndpointSlice) is the same in every mode; a mode decides the address that
// slice points at (the "route"), what it must build at the member's home for that address to answer, and
// what it needs to have checked and granted first.
//
// A new mode: one file here exporting a BridgeMode, its entry in BRIDGE_MODES (./index.ts), and its variant
// of `network` in src/spec/schema.ts (the registry is typed by that schema, so tsc names a mode that is in
// one and not the other).
import type { BridgeReport, PreflightReport, Side } from '../../contract';
import type { MigrationSpec } from '../../../spec/schema';
import type { ClusterClient } from '../client';
import type { Env } from '../env';
import type { Placed } from '../placement';
import type { Permission } from '../preflight';

export type NetworkSpec = MigrationSpec['network'];
export type NetworkMode = NetworkSpec['mode'];
/** The spec's `network` of one mode, options included. */
export type NetworkOf<M extends NetworkMode> = Extract<NetworkSpec, { mode: M }>;

/** The address the other cluster's bridge Service sends a member's traffic to (and the probe goes to). */
export interface Route {
  ip: string;
  port: number;
}

export interface Exposed {
  /** Member Service name → route, for every member passed. */
  routes: Map<string, Route>;
  /** What the mode built at the members' homes (LoadBalancers), for the bridge report. */
  loadBalancers: BridgeReport['loadBalancers'];
}

export interface ModePreflight {
  /** Each a refusal, naming what to change. */
  problems: string[];
  warnings: string[];
  /** The mode's part of the preflight report. */
  report: Partial<Pick<PreflightReport, 'sourcePodCIDRs' | 'targetPodCIDRs'>>;
}

export interface BridgeMode<M extends NetworkMode = NetworkMode> {
  readonly mode: M;
  /** Permissions only this mode needs, per side (preflight checks them; deploy/rbac.yaml grants them). */
  readonly permissions: Record<Side, Permission[]>;
  /** Services this mode creates in a namespace of its own (preflight checks the target has them free). */
  serviceNames(env: Env): string[];
  /** The mode's own checks of both clusters, before anything is written. */
  preflight(env: Env, c: Record<Side, ClusterClient>): Promise<ModePreflight>;
  /**
   * Bridge: makes every member of `placed` answer at a route from the other cluster, building whatever that
   * needs at the members' homes. Members not passed keep what they have (the bridge only grows); a member
   * passed with a new home is exposed there and no longer at its old one.
   */
  expose(env: Env, c: Record<Side, ClusterClient>, placed: Placed[]): Promise<Exposed>;
  /** Agent homes: one member now lives at `p.home` (a moved agent): exposed there, dropped at the other side. */
  rehome(env: Env, c: Record<Side, ClusterClient>, p: Placed): Promise<Route>;
  /** Teardown: members gone from cluster `c` (their Service names): whatever exposed them there goes. */
  release(env: Env, c: ClusterClient, services: string[]): Promise<void>;
}

/** The spec's network section, narrowed to the mode a BridgeMode implements. */
export function networkOf<M extends NetworkMode>(env: Env, mode: M): NetworkOf<M> {
  const n = env.spec.network;
  if (n.mode !== mode) throw new Error(`bridge mode ${mode} used for network.mode ${n.mode}`);
  return n as NetworkOf<M>;
}
