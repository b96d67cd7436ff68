import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const launcher = join(__dirname, '..', 'bin', 'emrpipe.mjs');

test('the emrpipe launcher runs the CLI through tsx and lists every command in --help', () => {
  const help = execFileSync(process.execPath, [launcher, '--help'], { encoding: 'utf8' });
  expect(help).toMatch(/^Usage: emrpipe \[options\] \[command\]/);
  for (const command of ['run [options] <pipeline>', 'submit [options] <job> [args...]', 'status [id]', 'logs [options] <jobRunId>', 'cost [options]', 'ui [options] <jobRunId>', 'smoke [options]', 'list', 'schedule <schedule>', 'access [options]', 'demo [options]']) {
    expect(help).toContain(command);
  }
  for (const option of ['--stage <name>', '--region <region>', '--local']) expect(help).toContain(option);
});

test('every command has --help', () => {
  for (const command of ['run', 'submit', 'status', 'logs', 'cost', 'ui', 'smoke', 'list', 'schedule', 'access', 'demo']) {
    const r = spawnSync(process.execPath, [launcher, command, '--help'], { encoding: 'utf8' });
    expect([command, r.status]).toEqual([command, 0]);
    expect(r.stdout).toContain(`Usage: emrpipe ${command}`);
  }
});

test('usage errors exit 2 with a plain message, no stack trace', () => {
  const r = spawnSync(process.execPath, [launcher, 'cost', '--since', 'soon'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr.trim()).toBe('emrpipe: --since must be a duration like 30m, 12h, 7d or 2w, got "soon".');
  const unknown = spawnSync(process.execPath, [launcher, 'deploy'], { encoding: 'utf8' });
  expect(unknown.status).toBe(2);
  expect(unknown.stderr).toContain("error: unknown command 'deploy'");
  expect(unknown.stderr).not.toMatch(/\n\s+at /);
});
