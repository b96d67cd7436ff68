import type { GraphEdge, GraphNode, GraphScope } from './report-graph';

/**
 * A layered (Sugiyama-style) layout of an execution graph, top to bottom, computed here (no layout library):
 * per scope, back edges found by DFS from the scope's first state, layers by longest path, long edges split
 * into dummy points, order within a layer by barycenter sweeps, x by averaging with the neighbours and packing.
 * Parallel and Map states are compound nodes: their branches are laid out first and placed side by side inside.
 * Catch edges spanning several layers run down a gutter on the scope's right (one lane per target) instead of
 * across the states; back edges (loops) run up a lane on the left.
 */
export interface LaidNode {
  readonly node: GraphNode;
  x: number;
  y: number;
  readonly w: number;
  readonly h: number;
  /** Branch layouts, offset from the node's top-left corner. */
  readonly children: Array<{ readonly dx: number; readonly dy: number; readonly scope: LaidScope }>;
}

export interface LaidEdge {
  readonly edge: GraphEdge;
  readonly route: 'direct' | 'gutter' | 'back';
  readonly points: Array<[number, number]>;
  /** Where the edge's label goes (just above its target). */
  readonly labelAt?: [number, number];
}

export interface LaidScope {
  readonly scope: GraphScope;
  readonly w: number;
  readonly h: number;
  readonly nodes: LaidNode[];
  readonly edges: LaidEdge[];
}

export const NODE_H = 44;
export const NAME_CHAR_PX = 7;
const MARKER = { w: 64, h: 26 };
const PAD = 14;
const HEADER = 28;
const BRANCH_GAP = 16;
const LAYER_GAP = 42;
const NODE_GAP = 28;
const DUMMY_GAP = 12;
const LANE = 12;

interface Item {
  readonly key: string;
  readonly w: number;
  readonly h: number;
  readonly node?: LaidNode;
  layer: number;
  order: number;
  x: number;
}

/** Lays out a scope (recursively, its compound nodes' branches); coordinates relative to the scope. */
export function layoutScope(scope: GraphScope): LaidScope {
  const nodes = scope.nodes.map(measure);
  const byName = new Map(nodes.map((n) => [n.node.name, n]));
  const edges = scope.edges.filter((e) => byName.has(e.from) && byName.has(e.to) && e.from !== e.to);
  const out = new Map<string, GraphEdge[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);

  // back edges (DFS from the first state, then any state not reached) and discovery order
  const back = new Set<GraphEdge>();
  const discovered = new Map<string, number>();
  const onStack = new Set<string>();
  const dfs = (name: string) => {
    discovered.set(name, discovered.size);
    onStack.add(name);
    for (const e of out.get(name) ?? []) {
      if (onStack.has(e.to)) back.add(e);
      else if (!discovered.has(e.to)) dfs(e.to);
    }
    onStack.delete(name);
  };
  for (const name of [scope.startAt, ...nodes.map((n) => n.node.name)]) if (byName.has(name) && !discovered.has(name)) dfs(name);

  // layers: longest path over the forward edges
  const forward = edges.filter((e) => !back.has(e));
  const layer = new Map(nodes.map((n) => [n.node.name, 0]));
  const indegree = new Map(nodes.map((n) => [n.node.name, 0]));
  for (const e of forward) indegree.set(e.to, indegree.get(e.to)! + 1);
  const ready = nodes.map((n) => n.node.name).filter((name) => indegree.get(name) === 0);
  while (ready.length) {
    const name = ready.shift()!;
    for (const e of forward.filter((f) => f.from === name)) {
      layer.set(e.to, Math.max(layer.get(e.to)!, layer.get(name)! + 1));
      indegree.set(e.to, indegree.get(e.to)! - 1);
      if (indegree.get(e.to) === 0) ready.push(e.to);
    }
  }

  // items per layer: states, and a dummy per layer crossed by a long direct edge
  const items: Item[] = nodes.map((n) => ({ key: n.node.name, w: n.w, h: n.h, node: n, layer: layer.get(n.node.name)!, order: discovered.get(n.node.name) ?? 0, x: 0 }));
  const item = new Map(items.map((i) => [i.key, i]));
  const routeOf = (e: GraphEdge): LaidEdge['route'] => (back.has(e) ? 'back' : e.kind === 'catch' && layer.get(e.to)! - layer.get(e.from)! > 1 ? 'gutter' : 'direct');
  const chains = new Map<GraphEdge, Item[]>();
  const links: Array<[Item, Item]> = [];
  for (const e of forward.filter((f) => routeOf(f) === 'direct')) {
    const chain: Item[] = [];
    for (let l = layer.get(e.from)! + 1; l < layer.get(e.to)!; l += 1) {
      const dummy: Item = { key: `${e.from}\u0000${e.to}\u0000${l}`, w: 2, h: 0, layer: l, order: item.get(e.from)!.order + 0.5, x: 0 };
      items.push(dummy);
      chain.push(dummy);
    }
    chains.set(e, chain);
    const path = [item.get(e.from)!, ...chain, item.get(e.to)!];
    for (let i = 1; i < path.length; i += 1) links.push([path[i - 1]!, path[i]!]);
  }
  // a state reached only through the gutter goes to the right end of its layer, where the gutter is
  const gutterOnly = new Set(nodes.map((n) => n.node.name).filter((name) => {
    const incoming = edges.filter((e) => e.to === name);
    return incoming.length > 0 && incoming.every((e) => routeOf(e) === 'gutter');
  }));
  const layers: Item[][] = [];
  for (const it of items) (layers[it.layer] ??= []).push(it);
  const sortLayer = (l: Item[], key: (i: Item) => number) => {
    const keyed = l.map((i, idx) => ({ i, k: gutterOnly.has(i.key) ? 1e6 + idx : key(i), idx }));
    keyed.sort((a, b) => a.k - b.k || a.idx - b.idx);
    keyed.forEach(({ i }, idx) => (i.order = idx));
    l.splice(0, l.length, ...keyed.map(({ i }) => i));
  };
  for (const l of layers) if (l) sortLayer(l, (i) => i.order);
  const preds = new Map<Item, Item[]>();
  const succs = new Map<Item, Item[]>();
  for (const [a, b] of links) {
    succs.set(a, [...(succs.get(a) ?? []), b]);
    preds.set(b, [...(preds.get(b) ?? []), a]);
  }
  const mean = (list: Item[] | undefined, f: (i: Item) => number, fallback: number) => (list?.length ? list.reduce((s, i) => s + f(i), 0) / list.length : fallback);
  for (let sweep = 0; sweep < 4; sweep += 1) {
    for (const l of layers.slice(1)) if (l) sortLayer(l, (i) => mean(preds.get(i), (p) => p.order, i.order));
    for (const l of layers.slice(0, -1).reverse()) if (l) sortLayer(l, (i) => mean(succs.get(i), (s) => s.order, i.order));
  }

  // x: pack, then pull each item towards its neighbours (down, up, down) keeping the order and the gaps
  const gap = (a: Item, b: Item) => (a.node && b.node ? NODE_GAP : DUMMY_GAP);
  const place = (l: Item[], desired: (i: Item) => number) => {
    const d = l.map(desired);
    const left = l.map(() => 0);
    const right = l.map(() => 0);
    l.forEach((it, i) => (left[i] = i === 0 ? d[i]! : Math.max(d[i]!, left[i - 1]! + (l[i - 1]!.w + it.w) / 2 + gap(l[i - 1]!, it))));
    for (let i = l.length - 1; i >= 0; i -= 1) right[i] = i === l.length - 1 ? d[i]! : Math.min(d[i]!, right[i + 1]! - (l[i + 1]!.w + l[i]!.w) / 2 - gap(l[i]!, l[i + 1]!));
    l.forEach((it, i) => (it.x = i === 0 ? (left[i]! + right[i]!) / 2 : Math.max((left[i]! + right[i]!) / 2, l[i - 1]!.x + (l[i - 1]!.w + it.w) / 2 + gap(l[i - 1]!, it))));
  };
  for (const l of layers) {
    let acc = 0;
    for (const it of l ?? []) {
      it.x = acc + it.w / 2;
      acc += it.w + NODE_GAP;
    }
  }
  for (let pass = 0; pass < 3; pass += 1) {
    for (const l of layers.slice(1)) if (l) place(l, (i) => mean(preds.get(i), (p) => p.x, i.x));
    for (const l of layers.slice(0, -1).reverse()) if (l) place(l, (i) => mean(succs.get(i), (s) => s.x, i.x));
  }
  for (const l of layers.slice(1)) if (l) place(l, (i) => mean(preds.get(i), (p) => p.x, i.x));

  // y per layer; then shift everything right of the back-edge lanes
  const layerTop: number[] = [];
  const layerH: number[] = [];
  let y = PAD;
  layers.forEach((l, i) => {
    layerTop[i] = y;
    layerH[i] = Math.max(0, ...(l ?? []).map((it) => it.h));
    y += layerH[i]! + LAYER_GAP;
  });
  const backLanes = [...new Set([...back].map((e) => e.to))];
  const minLeft = Math.min(...items.map((i) => i.x - i.w / 2));
  const shift = PAD + (backLanes.length ? LANE * (backLanes.length + 1) : 0) - minLeft;
  for (const it of items) it.x += shift;
  for (const it of items) if (it.node) {
    it.node.x = it.x - it.w / 2;
    it.node.y = layerTop[it.layer]! + (layerH[it.layer]! - it.h) / 2;
  }
  const maxRight = Math.max(...items.map((i) => i.x + i.w / 2));
  const gutterLanes = [...new Set(forward.filter((e) => routeOf(e) === 'gutter').sort((a, b) => layer.get(a.to)! - layer.get(b.to)!).map((e) => e.to))];
  const gutterX = (to: string) => maxRight + LANE * (gutterLanes.indexOf(to) + 1.5);
  const backX = (to: string) => PAD + LANE * (backLanes.indexOf(to) + 0.5);
  const width = maxRight + (gutterLanes.length ? LANE * (gutterLanes.length + 1.5) : 0) + PAD;
  const height = y - LAYER_GAP + PAD;

  // edge points
  const ln = (name: string) => byName.get(name)!;
  const rightmost = (name: string) => layers[layer.get(name)!]!.filter((i) => i.node).at(-1)?.key === name;
  const laid: LaidEdge[] = [];
  const ports = new Map<string, GraphEdge[]>();
  for (const e of forward.filter((f) => routeOf(f) === 'direct')) ports.set(e.from, [...(ports.get(e.from) ?? []), e]);
  for (const list of ports.values()) list.sort((a, b) => firstX(a) - firstX(b));
  function firstX(e: GraphEdge): number {
    const chain = chains.get(e)!;
    return chain.length ? chain[0]!.x : item.get(e.to)!.x;
  }
  for (const e of edges) {
    const route = routeOf(e);
    const s = ln(e.from);
    const t = ln(e.to);
    if (route === 'direct') {
      const list = ports.get(e.from)!;
      const px = s.x + (s.w * (list.indexOf(e) + 1)) / (list.length + 1);
      const points: Array<[number, number]> = [[px, s.y + s.h]];
      for (const d of chains.get(e)!) points.push([d.x, layerTop[d.layer]!], [d.x, layerTop[d.layer]! + layerH[d.layer]!]);
      points.push([t.x + t.w / 2, t.y]);
      laid.push({ edge: e, route, points, labelAt: e.label ? [t.x + t.w / 2, t.y - 8] : undefined });
    } else if (route === 'gutter') {
      const gx = gutterX(e.to);
      const start: Array<[number, number]> = rightmost(e.from)
        ? [[s.x + s.w, s.y + s.h / 2]]
        : [[s.x + s.w - 10, s.y + s.h], [s.x + s.w - 10, layerTop[layer.get(e.from)!]! + layerH[layer.get(e.from)!]! + LAYER_GAP / 3]];
      const end: Array<[number, number]> = rightmost(e.to)
        ? [[gx, t.y + t.h / 2], [t.x + t.w, t.y + t.h / 2]]
        : [[gx, t.y - LAYER_GAP / 3], [t.x + t.w - 10, t.y - LAYER_GAP / 3], [t.x + t.w - 10, t.y]];
      laid.push({ edge: e, route, points: [...start, [gx, start.at(-1)![1]], ...end] });
    } else {
      const bx = backX(e.to);
      laid.push({ edge: e, route, points: [[s.x, s.y + s.h / 2], [bx, s.y + s.h / 2], [bx, t.y + t.h / 2], [t.x, t.y + t.h / 2]] });
    }
  }
  return { scope, w: width, h: height, nodes, edges: laid };
}

/** A state's box: a marker, a plain state, or a compound state holding its laid-out branches. */
function measure(node: GraphNode): LaidNode {
  if (node.type === 'Start' || node.type === 'End') return { node, x: 0, y: 0, ...MARKER, children: [] };
  const title = Math.max(node.name.length * NAME_CHAR_PX, subtitle(node).length * 5.6) + 28;
  if (!node.children.length) return { node, x: 0, y: 0, w: Math.round(Math.min(270, Math.max(120, title))), h: NODE_H, children: [] };
  const branches = node.children.map(layoutScope);
  const inner = branches.reduce((s, b) => s + b.w, 0) + BRANCH_GAP * (branches.length - 1);
  const w = Math.max(inner + 2 * PAD, Math.min(320, title));
  let dx = (w - inner) / 2;
  const children = branches.map((scope) => {
    const placed = { dx, dy: HEADER, scope };
    dx += scope.w + BRANCH_GAP;
    return placed;
  });
  return { node, x: 0, y: 0, w, h: HEADER + Math.max(...branches.map((b) => b.h)) + PAD / 2, children };
}

/** The second line of a state's box: its type and what runs it, entries and time. */
export function subtitle(node: GraphNode): string {
  const parts = [node.type === 'Task' && node.resource ? node.resource.replace(/Function[0-9A-F]{8}$/, '') : node.type];
  if (node.entries > 1) parts.push(`×${node.entries}`);
  if (node.durationMs !== undefined) parts.push(formatMs(node.durationMs));
  return parts.join(' · ');
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
