/**
 * The local runner's IAM over the project's synthesized app (as the runner synthesizes it, local/synth.ts): every
 * function and state machine has its role, the job execution role reads the lake over TLS and not over plain
 * HTTP, and a denial names the action the principal lacks.
 */
import * as path from 'node:path';
import { LocalDeployment } from '../local/deployment';
import { AccessDeniedError, Authorizer } from '../local/iam';
import { synthesize } from '../local/synth';

describe('local IAM over the synthesized app', () => {
  const projectRoot = path.resolve(__dirname, '..');
  let authz: Authorizer;
  let deployment: LocalDeployment;
  beforeAll(() => {
    const { outdir } = synthesize({ projectRoot, outdir: path.join(projectRoot, '.local', 'test-iam', 'cdk.out') });
    deployment = LocalDeployment.fromAssembly(outdir, { projectRoot });
    authz = Authorizer.fromDeployment(deployment);
  });

  it('knows the role of every function and state machine, and the EMR job role', () => {
    for (const binding of [...authz.store.bindings.functions, ...authz.store.bindings.stateMachines]) {
      expect(authz.store.principal(binding.roleArn)).toBeDefined();
    }
    expect(authz.store.bindings.jobRoles.map((j) => j.roleArn)).toEqual([expect.stringMatching(/:role\/emr-ml-[a-z]+-JobRole$/)]);
  });

  it('the job execution role reads the lake over TLS, not over plain HTTP', async () => {
    const jobRole = authz.store.bindings.jobRoles[0].roleArn;
    const lake = deployment.buckets.find((b) => /lake/.test(b.name))!.name;
    const read = (secureTransport: boolean) =>
      authz.authorize({ principalArn: jobRole, operation: 'S3.GetObject', params: { Bucket: lake, Key: 'silver/ratings/part-0.parquet' }, secureTransport });
    expect((await read(true)).allowed).toBe(true);
    expect((await read(false)).denied?.reason).toBe('with an explicit deny in a resource-based policy');
  });

  it('EMR Serverless may assume the job role only for the stage\'s application (aws:SourceArn, aws:SourceAccount)', async () => {
    const role = authz.store.bindings.jobRoles[0].roleArn;
    const app = deployment.applications[0];
    const assume = async (sourceArn: string, sourceAccount = deployment.accountId) =>
      (await authz.authorize({ principalArn: 'emr-serverless.amazonaws.com', operation: 'STS.AssumeRole', params: { RoleArn: role }, sourceArn, sourceAccount })).allowed;
    expect(await assume(app.arn)).toBe(true);
    expect(await assume(app.arn.replace(app.applicationId, '00otherapp00000'))).toBe(false);
    expect(await assume(app.arn, '111111111111')).toBe(false);
  });

  it('a denial names the action the principal lacks', async () => {
    const stateMachineRole = authz.store.bindings.stateMachines[0].roleArn;
    const lake = deployment.buckets.find((b) => /lake/.test(b.name))!.name;
    const error = await authz.assertAuthorized({ principalArn: stateMachineRole, operation: 'S3.DeleteObject', params: { Bucket: lake, Key: 'gold/x' } }).catch((e) => e);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error.message).toContain('is not authorized to perform: s3:DeleteObject on resource: ');
    expect(error.message).toContain(`assumed-role/${stateMachineRole.split('/').pop()}/`);
  });
});
