/**
 * Makes this process's global `fetch` trust the runner's loopback certificate, so in-process Lambda handlers that
 * download with `fetch` (ingest-taxi-month) reach the runner's loopback HTTPS servers (local/sample-data.ts) with
 * no change to the handler — the counterpart of `https.globalAgent.options.ca` for `node:https` clients
 * (local/endpoint/local-aws.ts).
 *
 * Node's `fetch` is its bundled undici, which dispatches through the Agent stored under the process-wide
 * `Symbol.for('undici.globalDispatcher.1')` (the slot undici's `setGlobalDispatcher` writes). That slot gets an
 * Agent of the same bundled undici that trusts the public roots plus the loopback CA — built with the bundled
 * Agent's own class, so the dispatcher always matches the fetch that uses it, whatever Node version runs.
 * Under Jest the test's globals are a separate realm whose `fetch` is the outer realm's, so the slot is set
 * on the realm `fetch` belongs to.
 */
import * as tls from 'node:tls';

const DISPATCHER = Symbol.for('undici.globalDispatcher.1');
const extra = new Set<string>();

export function trustInFetch(caPem: string): void {
  if (extra.has(caPem)) return;
  // the global object of the realm `fetch` comes from (its Function constructor evaluates there)
  const realm = (globalThis.fetch as unknown as { constructor: FunctionConstructor }).constructor('return globalThis')() as Record<symbol | string, unknown>;
  void realm.Response; // loads the bundled undici, which installs its default Agent in the slot
  const current = realm[DISPATCHER] as { constructor?: new (options: unknown) => unknown } | undefined;
  if (typeof current?.constructor !== 'function' || current.constructor.name !== 'Agent') {
    throw new Error(`fetch cannot be made to trust the loopback certificate on Node ${process.version}: no undici Agent under ${String(DISPATCHER)}`);
  }
  extra.add(caPem);
  realm[DISPATCHER] = new current.constructor({ connect: { ca: [...tls.rootCertificates, ...extra] } });
}
