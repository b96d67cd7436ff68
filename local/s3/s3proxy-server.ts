import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/**
 * The S3 store of the local runner: S3Proxy (org.gaul:s3proxy, a kept S3 server) with its filesystem backend, so
 * `s3://<bucket>/<key>` is the plain file `<s3Root>/<bucket>/<key>` and the tree stays browseable. It listens
 * on loopback only, without authorization of its own: it is reached only through the local AWS endpoint
 * (aws-endpoint.ts), which authenticates the caller and authorizes every request against the synthesized IAM
 * policies first. Jars: `.cache/local-jars/s3proxy/` (scripts/setup.sh, local/java/pom.xml).
 */
export interface S3ProxyOptions {
  /** Root of the buckets (`.local/s3`). */
  readonly s3Root: string;
  /** Repository root (where `.cache/local-jars/` lives). */
  readonly projectRoot: string;
  /** Where its configuration and log go. */
  readonly stateDir: string;
}

export class S3ProxyServer {
  private constructor(
    readonly endpoint: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(options: S3ProxyOptions): Promise<S3ProxyServer> {
    const jars = path.join(options.projectRoot, '.cache', 'local-jars', 's3proxy');
    if (!existsSync(jars) || !readdirSync(jars).some((f) => f.startsWith('s3proxy-'))) {
      throw new Error(`S3Proxy jars missing in ${jars}: run "bash scripts/setup.sh"`);
    }
    mkdirSync(options.stateDir, { recursive: true });
    mkdirSync(options.s3Root, { recursive: true });
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const properties = path.join(options.stateDir, 's3proxy.properties');
    writeFileSync(properties, [
      `s3proxy.endpoint=${endpoint}`,
      's3proxy.authorization=none',
      'jclouds.provider=filesystem',
      `jclouds.filesystem.basedir=${options.s3Root}`,
      's3proxy.ignore-unknown-headers=true',
      '',
    ].join('\n'));
    const logback = path.join(options.stateDir, 'logback.xml');
    writeFileSync(logback, [
      '<configuration>',
      '  <appender name="ERR" class="ch.qos.logback.core.ConsoleAppender"><target>System.err</target>',
      '    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{20} - %msg%n</pattern></encoder></appender>',
      '  <root level="WARN"><appender-ref ref="ERR"/></root>',
      '</configuration>',
      '',
    ].join('\n'));
    const child = spawn('java', [
      '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto', '-Xmx512m',
      `-Dlogback.configurationFile=${logback}`,
      '-cp', `${jars}/*`, 'org.gaul.s3proxy.Main', '--properties', properties,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.unref();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    const server = new S3ProxyServer(endpoint, child);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`S3Proxy exited with ${child.exitCode}: ${stderr}`);
      if (await accepts(port)) return server;
      if (Date.now() > deadline) {
        server.stop();
        throw new Error(`S3Proxy did not listen on ${endpoint} within 30 s: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
