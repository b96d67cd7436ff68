import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const PYTHON = path.join(ROOT, '.venv/bin/python');

/** Offline packaging inputs: a wheel directory with emrpipe-probe, a jobs package, a models dir, no pom. */
export function makePackagingInputs(): { dir: string; args: (outDir: string, extra?: string[]) => string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emrpipe-pkg-'));
  const wheels = path.join(dir, 'wheels');
  fs.mkdirSync(wheels);
  const made = spawnSync(PYTHON, [path.join(ROOT, 'test/fixtures/packaging/make_probe_wheel.py'), wheels], { encoding: 'utf-8' });
  if (made.status !== 0) throw new Error(made.stderr);
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'emrpipe-probe==1.0.0\n');
  const jobs = path.join(dir, 'jobs');
  fs.mkdirSync(path.join(jobs, 'common'), { recursive: true });
  fs.mkdirSync(path.join(jobs, 'tests'), { recursive: true });
  fs.writeFileSync(path.join(jobs, '__init__.py'), '');
  fs.writeFileSync(path.join(jobs, 'common', '__init__.py'), 'HELLO = "jobs.common"\n');
  fs.writeFileSync(path.join(jobs, 'tests', 'test_x.py'), 'def test_x():\n    pass\n');
  fs.copyFileSync(path.join(ROOT, 'test/fixtures/packaging/probe_job.py'), path.join(jobs, 'probe_job.py'));
  const models = path.join(dir, 'models');
  fs.mkdirSync(path.join(models, 'tiny-model'), { recursive: true });
  fs.writeFileSync(path.join(models, 'README.md'), 'not shipped\n');
  fs.writeFileSync(path.join(models, 'tiny-model', 'weights.bin'), Buffer.from([1, 2, 3, 4]));
  return {
    dir,
    args: (outDir, extra = []) => [
      path.join(ROOT, 'scripts/package-artifacts.ts'),
      '--architecture', 'host',
      '--out-dir', outDir,
      '--requirements', path.join(dir, 'requirements.txt'),
      '--find-links', wheels,
      '--no-index',
      '--jobs-dir', jobs,
      '--models-dir', models,
      '--pom', path.join(dir, 'no-pom.xml'),
      ...extra,
    ],
  };
}

export function runPackaging(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), args, { cwd: ROOT, encoding: 'utf-8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
