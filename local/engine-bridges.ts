import type { LocalStateMachine } from './deployment';

/**
 * What the local engine (aws-local-stepfunctions 3.0) needs to execute a definition as Step Functions does: the
 * definition with the engine's differences bridged, and which Parallel/Map state each state runs in.
 */
/**
 * The definition as deployed, with two differences of aws-local-stepfunctions 3.0 from Step Functions bridged
 * (each rewrite keeps the ASL meaning):
 * - `ResultPath: "$"` (on a state or a catcher) must replace the state data with the result; the engine instead
 *   stores the result under a key named `$`. `"$"` is also the ASL default, so the field is removed.
 * - a Task state without `TimeoutSeconds` gets a 60-second timeout from the engine, none (99999999 s) from Step
 *   Functions; such states get the largest timeout a Node timer can hold (~24.8 days), larger ones are capped.
 */
export function prepareDefinition(sm: LocalStateMachine): Record<string, unknown> {
  const definition = JSON.parse(JSON.stringify(sm.definition)) as Record<string, unknown>;
  const MAX = 2_147_483;
  const visit = (def: Record<string, unknown>) => {
    for (const state of Object.values((def.States ?? {}) as Record<string, Record<string, unknown>>)) {
      if (state.ResultPath === '$') delete state.ResultPath;
      for (const catcher of (state.Catch ?? []) as Array<Record<string, unknown>>) if (catcher.ResultPath === '$') delete catcher.ResultPath;
      if (state.Type === 'Task') {
        if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) state.TimeoutSeconds = MAX;
        else if (typeof state.TimeoutSeconds === 'number' && state.TimeoutSeconds > MAX) state.TimeoutSeconds = MAX;
      }
      if (state.Type === 'Parallel') for (const b of (state.Branches ?? []) as Array<Record<string, unknown>>) visit(b);
      if (state.Type === 'Map') {
        const p = (state.ItemProcessor ?? state.Iterator) as Record<string, unknown> | undefined;
        if (p) visit(p);
      }
    }
  };
  visit(definition);
  if (typeof definition.TimeoutSeconds === 'number' && (definition.TimeoutSeconds as number) > MAX) definition.TimeoutSeconds = MAX;
  return definition;
}

export function parentStates(definition: Record<string, unknown>): Map<string, string> {
  const parents = new Map<string, string>();
  const visit = (def: Record<string, unknown>, parent?: string) => {
    for (const [name, state] of Object.entries((def.States ?? {}) as Record<string, Record<string, unknown>>)) {
      if (parent) parents.set(name, parent);
      if (state.Type === 'Parallel') for (const b of (state.Branches ?? []) as Array<Record<string, unknown>>) visit(b, name);
      if (state.Type === 'Map') {
        const p = (state.ItemProcessor ?? state.Iterator) as Record<string, unknown> | undefined;
        if (p) visit(p, name);
      }
    }
  };
  visit(definition);
  return parents;
}

