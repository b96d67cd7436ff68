import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderMarkdown, runBenchmarks, SECTIONS } from '../bench/run';

/**
 * Smoke test of the benchmark harness itself: the smoke profile (tiny sizes) runs every section and produces
 * every goal's key in latest.json and BENCHMARKS.md. No timing is asserted here; goals live in the results.
 */
describe('benchmark harness (smoke profile)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures every goal and writes JSON + Markdown', () => {
    const out = join(dir, 'latest.json');
    const markdown = join(dir, 'BENCHMARKS.md');
    runBenchmarks({ profile: 'smoke', out, markdown });
    const results = JSON.parse(readFileSync(out, 'utf8')) as { mode: string; machine: Record<string, unknown>; rows: { id: string; value: number | null; pass: boolean | null; note?: string }[] };
    expect(results.mode).toBe('smoke');
    expect(results.machine.cpus).toBeGreaterThan(0);
    const ids = results.rows.map((r) => r.id);
    for (const id of ['P1a', 'P1b', 'P1c', 'P2', 'P2b', 'P3', 'P4a', 'P4b', 'P6', 'P7', 'P8a', 'P8b', 'P8c', 'P9', 'R1', 'R2', 'R3']) expect(ids).toContain(id);
    expect(ids.filter((id) => id.startsWith('P5:') && id.endsWith(':bytes')).length).toBeGreaterThanOrEqual(8);
    expect(ids.filter((id) => id.startsWith('P5:') && id.endsWith(':init')).length).toBeGreaterThanOrEqual(8);
    // Every measured row carries a verdict; only the demo (full profile) and the held-out real set may be unmeasured.
    for (const r of results.rows.filter((x) => x.id.endsWith(':real') && !process.env.BENCH_REAL_RATINGS)) expect(r.note).toMatch(/^not measured: no held-out real set \(BENCH_REAL_RATINGS=DIR/);
    for (const r of results.rows.filter((x) => x.id !== 'P7' && !(x.id.endsWith(':real') && !process.env.BENCH_REAL_RATINGS))) {
      expect({ id: r.id, note: r.note, measured: r.value !== null }).toEqual({ id: r.id, note: r.note, measured: true });
      expect(typeof r.pass).toBe('boolean');
    }
    const table = readFileSync(markdown, 'utf8');
    for (const id of ids) expect(table).toContain(`| ${id} |`);
  });

  it('renders a failed goal as FAIL, not hidden', () => {
    const md = renderMarkdown({ machine: { cpus: 2 }, mode: 'quick', generatedAt: 'now', rows: [
      { id: 'PX', measure: 'm', value: 2, unit: '×', goal: '<= 1.5×', pass: false },
    ] });
    expect(md).toContain('| PX | m | 2 × | <= 1.5× | **FAIL** |');
    expect(Object.keys(SECTIONS)).toEqual(['P1', 'P2', 'P3', 'P5', 'P6', 'P7', 'P8', 'R']);
  });
});
