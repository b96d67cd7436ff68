/**
 * P8: what the local runner's IAM enforcement costs per call — the authorizer alone (a first decision, a cached
 * one) and an S3 GetObject with identification + authorization + the S3 store vs the same request sent to the
 * store directly — measured on the synthesized app's own policies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { packageArtifacts } from '../local/artifacts';
import { LocalDeployment } from '../local/deployment';
import { LocalAws } from '../local/endpoint/local-aws';
import { LocalLayout } from '../local/layout';
import { synthesize } from '../local/synth';

export interface EnforcementCost {
  readonly authorizeColdMicros: number;
  readonly authorizeCachedMicros: number;
  readonly getObjectAuthorizedMs: number;
  readonly getObjectDirectMs: number;
  readonly calls: number;
}

export async function measureEnforcement(repo: string, calls: number): Promise<EnforcementCost> {
  const assembly = join(repo, '.local', 'cdk.out');
  synthesize({ projectRoot: repo, outdir: assembly, context: { artifactsDir: packageArtifacts(repo, 'host').dir } });
  const deployment = LocalDeployment.fromAssembly(assembly, { projectRoot: repo });
  const root = mkdtempSync(join(tmpdir(), 'bench-iam-'));
  const layout = new LocalLayout(root).ensure();
  deployment.provision(layout);
  const aws = await LocalAws.start({ projectRoot: repo, layout, deployment });
  try {
    const jobRole = aws.authorizer.store.bindings.jobRoles[0]?.roleArn ?? '';
    const lake = deployment.buckets.find((b) => /lake/.test(b.name))!.name;
    const request = (i: number) => ({ principalArn: jobRole, operation: 'S3.GetObject', params: { Bucket: lake, Key: `silver/netflix/ratings/train/year=2005/month=${(i % 12) + 1}/part-${String(i).padStart(5, '0')}-c000.snappy.parquet` } });
    let t = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) await aws.authorizer.authorize({ ...request(i), params: { Bucket: lake, Key: `gold/x${i}/y${i % 7}/part-${i}` } });
    const cold = Number(process.hrtime.bigint() - t) / 1e3 / calls;
    await aws.authorizer.authorize(request(0));
    t = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) await aws.authorizer.authorize(request(0));
    const cached = Number(process.hrtime.bigint() - t) / 1e3 / calls;

    const routed = new S3Client({ region: deployment.region, credentials: aws.operator });
    await routed.send(new PutObjectCommand({ Bucket: lake, Key: 'bench/object.json', Body: '{"bench":true}' }));
    t = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) await (await routed.send(new GetObjectCommand({ Bucket: lake, Key: 'bench/object.json' }))).Body!.transformToString();
    const authorizedMs = Number(process.hrtime.bigint() - t) / 1e6 / calls;

    const direct = new S3Client({ region: deployment.region, endpoint: aws.store.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const sendDirect = Object.getPrototypeOf(S3Client.prototype).send as (this: S3Client, c: unknown) => Promise<{ Body: { transformToString(): Promise<string> } }>;
    t = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) await (await sendDirect.call(direct, new GetObjectCommand({ Bucket: lake, Key: 'bench/object.json' }))).Body.transformToString();
    const directMs = Number(process.hrtime.bigint() - t) / 1e6 / calls;
    routed.destroy();
    direct.destroy();
    return { authorizeColdMicros: cold, authorizeCachedMicros: cached, getObjectAuthorizedMs: authorizedMs, getObjectDirectMs: directMs, calls };
  } finally {
    await aws.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const calls = Number(process.argv[2] ?? 500);
  measureEnforcement(join(__dirname, '..'), calls).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: Error) => {
      process.stderr.write(`${error.stack ?? error.message}\n`);
      process.exitCode = 1;
    },
  );
}
