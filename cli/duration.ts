import { CliError } from './errors';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses `30m`, `12h`, `7d`, `2w` into milliseconds. */
export function parseDuration(text: string, option = '--since'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (!m) throw new CliError(`${option} must be a duration like 30m, 12h, 7d or 2w, got "${text}".`, 2);
  return Number(m[1]) * UNIT_SECONDS[m[2]!]! * 1000;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
