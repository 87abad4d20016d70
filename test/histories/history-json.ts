/**
 * Workflow histories to and from the JSON that Temporal's own tools write (`temporal workflow show --output json`,
 * the Web UI's download): proto3 JSON of temporal.api.history.v1.History.
 *
 * Why not @temporalio/common's historyToJSON/historyFromJSON: in this install (SDK 1.24.0) both throw
 * "type must be a Type" — @temporalio/common and @temporalio/proto each carry their own copy of protobufjs, so
 * common's protojson does not recognise the proto root's types (`instanceof` across copies). This is the same
 * code with the protojson of the copy the proto root is built with; drop it when the SDK's functions work again.
 */
import { createRequire } from 'node:module';
import * as proto from '@temporalio/proto';
import type { History } from '@temporalio/common/lib/proto-utils';

const fromProto = createRequire(require.resolve('@temporalio/proto'));
const protojson = fromProto('protobufjs/ext/protojson') as {
  toJson(type: unknown, message: unknown, options?: object): unknown;
  fromJson(type: unknown, json: unknown, options?: object): unknown;
};
const historyType = (proto as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);
const HistoryMessage = proto.temporal.api.history.v1.History;

/** A history as returned by `handle.fetchHistory()`, as a JSON value in Temporal's history JSON format. */
export function historyToJson(history: History): unknown {
  return protojson.toJson(historyType, HistoryMessage.fromObject(history));
}

/** A history JSON value (this module's or `temporal workflow show --output json`'s) as a History message. */
export function historyFromJson(json: unknown): proto.temporal.api.history.v1.History {
  const h = json as { events?: unknown };
  if (typeof json !== 'object' || json === null || !Array.isArray(h.events))
    throw new TypeError('not a history: expected an object with an array of events');
  const loaded = protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
  if (!loaded) throw new TypeError('not a history');
  return loaded as proto.temporal.api.history.v1.History;
}
