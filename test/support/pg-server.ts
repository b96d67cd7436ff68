/**
 * A real, throw-away PostgreSQL server for jest tests (Debian `postgresql` package): initdb + postgres in a temp
 * dir on a free loopback port with SCRAM password auth; as root it runs as the `postgres` OS user.
 * Mirrors jobs/tests/pg.py.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

export interface PgServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  client(): Promise<Client>;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    if (existsSync(join(root, v, 'bin', 'postgres'))) return join(root, v, 'bin');
  }
  throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: run scripts/setup.sh');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function pgIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export async function startPgServer(): Promise<PgServer> {
  const bin = binDir();
  const asRoot = process.getuid?.() === 0;
  const wrap = (argv: string[]) => (asRoot ? ['runuser', '-u', 'postgres', '--', ...argv] : argv);
  const dir = mkdtempSync(join(tmpdir(), 'pgjest-'));
  const data = join(dir, 'data');
  const sockets = join(dir, 'sock');
  mkdirSync(sockets);
  const superPassword = randomBytes(12).toString('hex');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${superPassword}\n`);
  if (asRoot) {
    const { uid, gid } = pgIds();
    for (const p of [dir, sockets, pwfile]) chownSync(p, uid, gid);
  }
  const [initCmd, ...initArgs] = wrap([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--pwfile', pwfile,
    '-A', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C.UTF-8', '--no-sync']);
  execFileSync(initCmd, initArgs, { stdio: 'ignore' });
  const port = await freePort();
  const [cmd, ...args] = wrap([join(bin, 'postgres'), '-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
    '-c', `unix_socket_directories=${sockets}`, '-c', 'fsync=off', '-c', 'max_connections=20']);
  const proc: ChildProcess = spawn(cmd, args, { stdio: 'ignore', detached: true });
  const connect = (user: string, password: string, database: string) =>
    new Client({ host: '127.0.0.1', port, user, password, database });

  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = connect('postgres', superPassword, 'postgres');
    try {
      await c.connect();
      await c.end();
      break;
    } catch (error) {
      await c.end().catch(() => undefined);
      if (Date.now() > deadline || proc.exitCode !== null) {
        throw new Error(`PostgreSQL did not start: ${String(error)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const user = 'news_app';
  const password = randomBytes(12).toString('hex');
  const database = 'news';
  const admin = connect('postgres', superPassword, 'postgres');
  await admin.connect();
  await admin.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
  await admin.query(`CREATE DATABASE ${database} OWNER ${user}`);
  await admin.end();

  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
    client: async () => {
      const c = connect(user, password, database);
      await c.connect();
      return c;
    },
    stop: async () => {
      if (proc.pid && proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        process.kill(-proc.pid, 'SIGINT'); // fast shutdown of the server's process group
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000).unref())]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function migrationSql(): string {
  const dir = join(__dirname, '..', '..', 'db', 'migrations');
  return readdirSync(dir).filter((f) => f.endsWith('.sql')).sort().map((f) => readFileSync(join(dir, f), 'utf-8')).join('\n');
}
