import type { BlastEdge, BlastNode, BlastRadius, NodeKind } from './blast.js';

const SHAPE: Record<NodeKind, string> = {
  attacker: 'octagon',
  trigger: 'cds',
  job: 'box',
  secret: 'note',
  token: 'note',
  oidc: 'note',
  environment: 'house',
  target: 'house',
  cache: 'cylinder',
  artifact: 'folder',
  runner: 'component',
};

const FILL: Record<NodeKind, string> = {
  attacker: '#f4cccc',
  trigger: '#fce5cd',
  job: '#dae8fc',
  secret: '#fff2cc',
  token: '#fff2cc',
  oidc: '#fff2cc',
  environment: '#d9ead3',
  target: '#d9ead3',
  cache: '#eeeeee',
  artifact: '#eeeeee',
  runner: '#eeeeee',
};

function dotString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f]/g, ' ')}"`;
}

function onPath(radius: BlastRadius): { nodes: Set<string>; edges: Set<string> } {
  const nodes = new Set(radius.shortestPath?.nodes.map((n) => n.id) ?? []);
  const edges = new Set(radius.shortestPath?.edges.map((e) => `${e.from}\u0000${e.to}`) ?? []);
  return { nodes, edges };
}

/** The graph in Graphviz DOT: production nodes outlined red, the shortest path drawn bold red. */
export function toDot(radius: BlastRadius): string {
  const path = onPath(radius);
  const lines = [
    'digraph cairn_ci_blast_radius {',
    '  rankdir=LR;',
    '  node [fontname="Helvetica", fontsize=10, style=filled];',
    '  edge [fontname="Helvetica", fontsize=8];',
  ];
  for (const n of radius.nodes) {
    const attrs = [`label=${dotString(n.label)}`, `shape=${SHAPE[n.kind]}`, `fillcolor="${FILL[n.kind]}"`];
    if (n.production) attrs.push('color="#cc0000"', 'penwidth=2');
    lines.push(`  ${dotString(n.id)} [${attrs.join(', ')}];`);
  }
  for (const e of radius.edges) {
    const attrs = [`label=${dotString(e.reason)}`];
    if (path.edges.has(`${e.from}\u0000${e.to}`)) attrs.push('color="#cc0000"', 'penwidth=2.5');
    lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [${attrs.join(', ')}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function xml(s: string): string {
  return s
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, ' ');
}

const CHAR = 6.2;
const NODE_H = 30;
const GAP_Y = 18;
const GAP_X = 90;
const MAX_LABEL = 60;

function clip(label: string): string {
  return label.length > MAX_LABEL ? `${label.slice(0, MAX_LABEL - 1)}…` : label;
}

/**
 * A self-contained SVG of the graph, laid out without Graphviz: columns by breadth-first
 * distance from the sources (the outsider first), nodes in a column sorted by kind and id.
 */
export function toSvg(radius: BlastRadius): string {
  const path = onPath(radius);
  const incoming = new Map<string, number>();
  for (const e of radius.edges) incoming.set(e.to, (incoming.get(e.to) ?? 0) + 1);
  const out = new Map<string, BlastEdge[]>();
  for (const e of radius.edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const layer = new Map<string, number>();
  const queue: string[] = radius.nodes.filter((n) => !incoming.has(n.id)).map((n) => n.id);
  for (const id of queue) layer.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i] as string;
    for (const e of out.get(id) ?? []) {
      if (layer.has(e.to)) continue;
      layer.set(e.to, (layer.get(id) ?? 0) + 1);
      queue.push(e.to);
    }
  }
  for (const n of radius.nodes) if (!layer.has(n.id)) layer.set(n.id, 0);
  const order: NodeKind[] = ['attacker', 'trigger', 'job', 'runner', 'cache', 'artifact', 'token', 'oidc', 'secret', 'environment', 'target'];
  const columns: BlastNode[][] = [];
  for (const n of radius.nodes) {
    const l = layer.get(n.id) ?? 0;
    const column = columns[l] ?? [];
    column.push(n);
    columns[l] = column;
  }
  const box = new Map<string, { x: number; y: number; w: number }>();
  let x = 20;
  let height = 0;
  for (const col of columns) {
    if (!col) continue;
    col.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || (a.id < b.id ? -1 : 1));
    const w = Math.max(...col.map((n) => clip(n.label).length * CHAR + 20), 80);
    for (const [i, n] of col.entries()) box.set(n.id, { x, y: 20 + i * (NODE_H + GAP_Y), w });
    height = Math.max(height, 20 + col.length * (NODE_H + GAP_Y));
    x += w + GAP_X;
  }
  const width = x - GAP_X + 20;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${Math.ceil(height + 20)}" viewBox="0 0 ${Math.ceil(width)} ${Math.ceil(height + 20)}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker>',
    '<marker id="arrow-hot" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#cc0000"/></marker></defs>',
    '<title>cairn ci audit: blast radius</title>',
  ];
  for (const e of radius.edges) {
    const a = box.get(e.from);
    const b = box.get(e.to);
    if (!a || !b) continue;
    const hot = path.edges.has(`${e.from}\u0000${e.to}`);
    const x1 = a.x + a.w;
    const y1 = a.y + NODE_H / 2;
    const forward = b.x > a.x;
    const x2 = forward ? b.x : b.x + b.w;
    const y2 = b.y + NODE_H / 2;
    const bend = forward ? Math.max(30, (x2 - x1) / 2) : 60;
    const d = forward
      ? `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`
      : `M ${x1} ${y1} C ${x1 + bend} ${y1 - 40}, ${x2 + bend} ${y2 - 40}, ${x2} ${y2}`;
    parts.push(
      `<path d="${d}" fill="none" stroke="${hot ? '#cc0000' : '#888'}" stroke-width="${hot ? 2.5 : 1}" marker-end="url(#${hot ? 'arrow-hot' : 'arrow'})"><title>${xml(e.reason)}</title></path>`,
    );
  }
  for (const n of radius.nodes) {
    const b = box.get(n.id);
    if (!b) continue;
    const stroke = n.production ? '#cc0000' : path.nodes.has(n.id) ? '#cc0000' : '#666';
    const rx = n.kind === 'job' ? 3 : n.kind === 'attacker' || n.kind === 'trigger' ? 14 : 8;
    parts.push(
      `<g><title>${xml(n.id)}</title><rect x="${b.x}" y="${b.y}" width="${b.w}" height="${NODE_H}" rx="${rx}" fill="${FILL[n.kind]}" stroke="${stroke}" stroke-width="${n.production ? 2 : 1}"/>`,
      `<text x="${b.x + 10}" y="${b.y + NODE_H / 2 + 4}">${xml(clip(n.label))}</text></g>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
