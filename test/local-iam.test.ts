/**
 * The local runner's IAM (local/iam): one test per rule on a small hand-written template whose policies are real
 * policy documents (explicit deny, TLS-only bucket policy, s3:prefix, S3's 403-vs-404 for a missing key, PassRole
 * to a service, unmapped operations, tag-on-create, copy, KMS-encrypted topic, resource-policy-only access, trust
 * policy with aws:SourceArn, the least-privilege report).
 * The project's synthesized app: local-iam-app.test.ts.
 */
import * as path from 'node:path';
import { LocalDeployment, type StackTemplate } from '../local/deployment';
import { AccessDeniedError, Authorizer, PolicyValidationError, UnknownManagedPolicyError } from '../local/iam';

const ACCOUNT = '111122223333';
const arn = (s: string) => ({ 'Fn::GetAtt': [s, 'Arn'] });
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
const doc = (...Statement: unknown[]) => ({ Version: '2012-10-17', Statement });
const trust = (service: string, Condition?: unknown) => doc({ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole', ...(Condition ? { Condition } : {}) });
const role = (service = 'lambda.amazonaws.com', extra: Record<string, unknown> = {}) => ({ Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: trust(service), ...extra } });
const policy = (roleId: string, ...statements: unknown[]) => ({ Type: 'AWS::IAM::Policy', Properties: { PolicyName: `${roleId}Policy`, Roles: [{ Ref: roleId }], PolicyDocument: doc(...statements) } });
const appArn = join('arn:aws:emr-serverless:us-east-1:', { Ref: 'AWS::AccountId' }, ':/applications/', { Ref: 'App' });

function template(extra: Record<string, unknown> = {}): StackTemplate {
  const bucketArn = arn('Data');
  const objects = join(bucketArn, '/*');
  const resources: Record<string, unknown> = {
    Data: { Type: 'AWS::S3::Bucket', Properties: { BucketName: 'data' } },
    DataPolicy: {
      Type: 'AWS::S3::BucketPolicy',
      Properties: {
        Bucket: { Ref: 'Data' },
        PolicyDocument: doc(
          { Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: [bucketArn, objects], Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
          { Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:DeleteObject', Resource: join(bucketArn, '/protected/*'), Condition: { ArnNotEquals: { 'aws:PrincipalArn': arn('AdminRole') } } },
          { Sid: 'ReaderShared', Effect: 'Allow', Principal: { AWS: arn('ReaderRole') }, Action: 's3:GetObject', Resource: join(bucketArn, '/shared/*') },
        ),
      },
    },
    Other: { Type: 'AWS::S3::Bucket', Properties: { BucketName: 'other' } },
    App: { Type: 'AWS::EMRServerless::Application', Properties: { Name: 'app', ReleaseLabel: 'emr-spark-8.0.0', Type: 'SPARK' } },
    AppRole: role('lambda.amazonaws.com', { ManagedPolicyArns: ['arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'] }),
    AppRolePolicy: policy(
      'AppRole',
      { Sid: 'ReadWrite', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: objects },
      { Sid: 'ListIn', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn, Condition: { StringLike: { 's3:prefix': ['in/*'] } } },
      { Sid: 'NoReadonlyWrites', Effect: 'Deny', Action: 's3:PutObject', Resource: join(bucketArn, '/readonly/*') },
      { Sid: 'NeverUsed', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: '*' },
    ),
    AdminRole: role(),
    AdminRolePolicy: policy('AdminRole', { Effect: 'Allow', Action: 's3:*', Resource: '*' }),
    ReaderRole: role(),
    JobRole: role('emr-serverless.amazonaws.com', {
      AssumeRolePolicyDocument: trust('emr-serverless.amazonaws.com', { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } }, ArnLike: { 'aws:SourceArn': appArn } }),
    }),
    StarterRole: role('states.amazonaws.com'),
    StarterRolePolicy: policy(
      'StarterRole',
      { Effect: 'Allow', Action: 'emr-serverless:StartJobRun', Resource: appArn },
      { Effect: 'Allow', Action: 'iam:PassRole', Resource: arn('JobRole'), Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } } },
    ),
    WrongServiceRole: role('states.amazonaws.com'),
    WrongServiceRolePolicy: policy(
      'WrongServiceRole',
      { Effect: 'Allow', Action: 'emr-serverless:StartJobRun', Resource: appArn },
      { Effect: 'Allow', Action: 'iam:PassRole', Resource: arn('JobRole'), Condition: { StringEquals: { 'iam:PassedToService': 'lambda.amazonaws.com' } } },
    ),
    TaggerRole: role('states.amazonaws.com'),
    TaggerRolePolicy: policy(
      'TaggerRole',
      { Effect: 'Allow', Action: 'emr-serverless:StartJobRun', Resource: appArn, Condition: { StringEquals: { 'aws:RequestTag/project': 'ml' } } },
      { Effect: 'Allow', Action: 'emr-serverless:TagResource', Resource: join(appArn, '/jobruns/*'), Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['project', 'run'] } } },
      { Effect: 'Allow', Action: 'iam:PassRole', Resource: arn('JobRole'), Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } } },
    ),
    Key: {
      Type: 'AWS::KMS::Key',
      Properties: { KeyPolicy: doc({ Effect: 'Allow', Principal: { AWS: join('arn:aws:iam::', { Ref: 'AWS::AccountId' }, ':root') }, Action: 'kms:*', Resource: '*' }) },
    },
    Topic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: 'alerts', KmsMasterKeyId: arn('Key') } },
    LockedKey: { Type: 'AWS::KMS::Key', Properties: { KeyPolicy: doc({ Effect: 'Allow', Principal: { AWS: arn('AdminRole') }, Action: 'kms:*', Resource: '*' }) } },
    LockedTopic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: 'locked', KmsMasterKeyId: arn('LockedKey') } },
    PublisherRole: role(),
    PublisherRolePolicy: policy(
      'PublisherRole',
      { Effect: 'Allow', Action: 'sns:Publish', Resource: [{ Ref: 'Topic' }, { Ref: 'LockedTopic' }] },
      { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: [arn('Key'), arn('LockedKey')] },
    ),
    PublishOnlyRole: role(),
    PublishOnlyRolePolicy: policy('PublishOnlyRole', { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: 'Topic' } }),
    Fn: { Type: 'AWS::Lambda::Function', Properties: { Role: arn('AppRole'), Handler: 'index.handler', Runtime: 'nodejs22.x' } },
    FnPermission: {
      Type: 'AWS::Lambda::Permission',
      Properties: { FunctionName: { Ref: 'Fn' }, Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', SourceArn: join('arn:aws:events:us-east-1:', { Ref: 'AWS::AccountId' }, ':rule/nightly') },
    },
    Secret: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'db', KmsKeyId: { Ref: 'Key' } } },
    SecretReaderRole: role(),
    SecretReaderRolePolicy: policy(
      'SecretReaderRole',
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: { Ref: 'Secret' } },
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: arn('Key'), Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' } } },
    ),
    ...extra,
  };
  return { stackName: 'iam-test', templateFile: '', template: { Resources: resources as StackTemplate['template']['Resources'] } };
}

const deploymentOf = (t: StackTemplate) => new LocalDeployment([t], '/nonexistent', { accountId: ACCOUNT, projectRoot: path.resolve(__dirname, '..') });
const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/iam-test-${name}`;

describe('local IAM rules', () => {
  let authz: Authorizer;
  let appId: string;
  beforeAll(() => {
    const deployment = deploymentOf(template());
    authz = Authorizer.fromDeployment(deployment);
    appId = deployment.applications[0].applicationId;
  });
  const s3 = (principal: string, operation: string, params: Record<string, unknown>, secureTransport = true) =>
    authz.authorize({ principalArn: roleArn(principal), operation, params: { Bucket: 'data', ...params }, secureTransport });

  it('an explicit deny wins over an allow (identity policy, and a bucket policy conditioned on aws:PrincipalArn)', async () => {
    expect((await s3('AppRole', 'S3.PutObject', { Key: 'out/a' })).allowed).toBe(true);
    const denied = await s3('AppRole', 'S3.PutObject', { Key: 'readonly/a' });
    expect(denied.allowed).toBe(false);
    expect(denied.denied?.reason).toBe('with an explicit deny in an identity-based policy');
    expect(denied.checks[0].deniedBy).toEqual([{ policyType: 'identity', policy: 'AppRolePolicy', statement: 'NoReadonlyWrites' }]);
    expect((await s3('AppRole', 'S3.DeleteObject', { Key: 'protected/a' })).denied?.reason).toBe('with an explicit deny in a resource-based policy');
    expect((await s3('AdminRole', 'S3.DeleteObject', { Key: 'protected/a' })).allowed).toBe(true);
  });

  it('the TLS-only bucket policy denies aws:SecureTransport false and allows true', async () => {
    expect((await s3('AppRole', 'S3.GetObject', { Key: 'in/a' }, true)).allowed).toBe(true);
    const plain = await s3('AppRole', 'S3.GetObject', { Key: 'in/a' }, false);
    expect(plain.allowed).toBe(false);
    expect(plain.denied).toEqual({ action: 's3:GetObject', resource: 'arn:aws:s3:::data/in/a', reason: 'with an explicit deny in a resource-based policy' });
  });

  it('ListObjectsV2 is s3:ListBucket with s3:prefix = Prefix', async () => {
    expect((await s3('AppRole', 'S3.ListObjectsV2', { Prefix: 'in/2024/' })).allowed).toBe(true);
    expect((await s3('AppRole', 'S3.ListObjectsV2', { Prefix: 'out/' })).allowed).toBe(false);
    expect((await s3('AppRole', 'S3.ListObjectsV2', {})).allowed).toBe(false);
  });

  it('a missing key is 404 only to a caller allowed s3:ListBucket for it (mayListBucket: s3:prefix = the key), else 403', async () => {
    expect(await authz.mayListBucket(roleArn('AppRole'), 'data', 'in/missing.json')).toBe(true); // 404 NoSuchKey
    expect(await authz.mayListBucket(roleArn('AppRole'), 'data', 'out/missing.json')).toBe(false); // 403, although it may GetObject there
    expect((await s3('AppRole', 'S3.GetObject', { Key: 'out/missing.json' })).allowed).toBe(true);
    // the reader may GetObject shared/ through the bucket policy, but list nothing: a missing shared key is 403
    expect((await s3('ReaderRole', 'S3.GetObject', { Key: 'shared/missing.csv' })).allowed).toBe(true);
    expect(await authz.mayListBucket(roleArn('ReaderRole'), 'data', 'shared/missing.csv')).toBe(false);
    expect(await authz.mayListBucket(roleArn('AdminRole'), 'data', 'anything/missing')).toBe(true);
    // the TLS-only bucket policy applies to the ListBucket check as well
    expect(await authz.mayListBucket(roleArn('AppRole'), 'data', 'in/missing.json', { secureTransport: false })).toBe(false);
  });

  it('iam:PassRole is allowed only when iam:PassedToService matches', async () => {
    const params = { applicationId: appId, executionRoleArn: roleArn('JobRole') };
    expect((await authz.authorize({ principalArn: roleArn('StarterRole'), operation: 'EMRServerless.StartJobRun', params })).allowed).toBe(true);
    const wrong = await authz.authorize({ principalArn: roleArn('WrongServiceRole'), operation: 'EMRServerless.StartJobRun', params });
    expect(wrong.denied).toMatchObject({ action: 'iam:PassRole', resource: roleArn('JobRole') });
    const passOther = await authz.authorize({ principalArn: roleArn('StarterRole'), operation: 'EMRServerless.StartJobRun', params: { ...params, executionRoleArn: roleArn('AppRole') } });
    expect(passOther.denied?.action).toBe('iam:PassRole');
  });

  it('an operation not in the table is denied, never allowed', async () => {
    const result = await authz.authorize({ principalArn: authz.operatorArn, operation: 'S3.PutBucketPolicy', params: { Bucket: 'data' } });
    expect(result).toMatchObject({ allowed: false, denied: { reason: 'operation not mapped' }, checks: [] });
  });

  it('StartJobRun with Tags also needs emr-serverless:TagResource (aws:RequestTag, aws:TagKeys)', async () => {
    const run = (principal: string, tags?: Record<string, string>) =>
      authz.authorize({ principalArn: roleArn(principal), operation: 'arn:aws:states:::emr-serverless:startJobRun', params: { ApplicationId: appId, ExecutionRoleArn: roleArn('JobRole'), ...(tags ? { Tags: tags } : {}) } });
    expect((await run('StarterRole')).allowed).toBe(true);
    const tagged = await run('StarterRole', { project: 'ml' });
    expect(tagged.denied).toMatchObject({ action: 'emr-serverless:TagResource', reason: 'because no identity-based policy allows the emr-serverless:TagResource action' });
    expect((await run('TaggerRole', { project: 'ml', run: 'r1' })).allowed).toBe(true);
    expect((await run('TaggerRole', { project: 'other' })).denied?.action).toBe('emr-serverless:StartJobRun');
    expect((await run('TaggerRole', { project: 'ml', owner: 'x' })).denied?.action).toBe('emr-serverless:TagResource');
  });

  it('CopyObject needs s3:GetObject on the source and s3:PutObject on the target', async () => {
    const ok = await s3('AppRole', 'S3.CopyObject', { Key: 'out/b', CopySource: 'data/in/a%20b.json' });
    expect(ok.allowed).toBe(true);
    expect(ok.checks.map((c) => `${c.action} ${c.resource}`)).toEqual(['s3:GetObject arn:aws:s3:::data/in/a b.json', 's3:PutObject arn:aws:s3:::data/out/b']);
    expect((await s3('AppRole', 'S3.CopyObject', { Key: 'readonly/b', CopySource: 'data/in/a' })).denied?.action).toBe('s3:PutObject');
    expect((await s3('AppRole', 'S3.CopyObject', { Key: 'out/b', CopySource: '/other/x' })).denied).toMatchObject({ action: 's3:GetObject', resource: 'arn:aws:s3:::other/x' });
  });

  it('publishing to a KMS-encrypted topic needs kms:GenerateDataKey and kms:Decrypt, and the key policy must trust the account', async () => {
    const topic = `arn:aws:sns:us-east-1:${ACCOUNT}:alerts`;
    const ok = await authz.authorize({ principalArn: roleArn('PublisherRole'), operation: 'SNS.Publish', params: { TopicArn: topic } });
    expect(ok.allowed).toBe(true);
    expect(ok.checks.map((c) => c.action)).toEqual(['sns:Publish', 'kms:GenerateDataKey', 'kms:Decrypt']);
    const noKms = await authz.authorize({ principalArn: roleArn('PublishOnlyRole'), operation: 'arn:aws:states:::sns:publish', params: { TopicArn: topic } });
    expect(noKms.denied?.action).toBe('kms:GenerateDataKey');
    const locked = await authz.authorize({ principalArn: roleArn('PublisherRole'), operation: 'SNS.Publish', params: { TopicArn: `arn:aws:sns:us-east-1:${ACCOUNT}:locked` } });
    expect(locked.denied).toMatchObject({ action: 'kms:GenerateDataKey', reason: 'because no resource-based policy allows the kms:GenerateDataKey action' });
  });

  it('a resource policy alone grants same-account access', async () => {
    const shared = await s3('ReaderRole', 'S3.GetObject', { Key: 'shared/report.csv' });
    expect(shared.allowed).toBe(true);
    expect(shared.checks[0].grantedBy).toEqual([{ policyType: 'resource', policy: 'iam-test/DataPolicy', statement: 'ReaderShared' }]);
    expect((await s3('ReaderRole', 'S3.GetObject', { Key: 'in/a' })).denied?.reason).toBe('because no identity-based policy allows the s3:GetObject action');
  });

  it('a service assumes a role only as its trust policy says (aws:SourceArn, aws:SourceAccount)', async () => {
    const assume = (sourceArn: string) =>
      authz.authorize({ principalArn: 'emr-serverless.amazonaws.com', operation: 'STS.AssumeRole', params: { RoleArn: roleArn('JobRole') }, sourceArn, sourceAccount: ACCOUNT });
    expect((await assume(`arn:aws:emr-serverless:us-east-1:${ACCOUNT}:/applications/${appId}`)).allowed).toBe(true);
    expect((await assume(`arn:aws:emr-serverless:us-east-1:${ACCOUNT}:/applications/someone-else`)).denied?.reason).toBe(
      'because no resource-based policy allows the sts:AssumeRole action',
    );
  });

  it('a Lambda permission lets a service invoke the function only from its source (aws:SourceArn)', async () => {
    const invoke = (sourceArn: string) =>
      authz.authorize({ principalArn: 'events.amazonaws.com', operation: 'Lambda.Invoke', params: { FunctionName: 'iam-test-Fn' }, sourceArn, sourceAccount: ACCOUNT });
    const ok = await invoke(`arn:aws:events:us-east-1:${ACCOUNT}:rule/nightly`);
    expect(ok.allowed).toBe(true);
    expect(ok.checks[0]).toMatchObject({ resource: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:iam-test-Fn`, grantedBy: [{ policyType: 'resource', statement: 'FnPermission' }] });
    expect((await invoke(`arn:aws:events:us-east-1:${ACCOUNT}:rule/other`)).allowed).toBe(false);
    expect(authz.store.functionRole('iam-test-Fn')).toBe(roleArn('AppRole'));
  });

  it('a secret encrypted with a customer key also needs kms:Decrypt on it (via Secrets Manager)', async () => {
    const get = (principal: string) => authz.authorize({ principalArn: roleArn(principal), operation: 'SecretsManager.GetSecretValue', params: { SecretId: 'db' } });
    const ok = await get('SecretReaderRole');
    expect(ok.allowed).toBe(true);
    expect(ok.checks.map((c) => c.action)).toEqual(['secretsmanager:GetSecretValue', 'kms:Decrypt']);
    expect((await get('AppRole')).denied?.action).toBe('secretsmanager:GetSecretValue');
  });

  it('assertAuthorized throws AWS-shaped AccessDenied errors', async () => {
    const error = await authz.assertAuthorized({ principalArn: roleArn('ReaderRole'), operation: 'S3.GetObject', params: { Bucket: 'data', Key: 'in/a' }, sessionName: 'fn' }).catch((e) => e);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error).toMatchObject({ name: 'AccessDenied', action: 's3:GetObject', resource: 'arn:aws:s3:::data/in/a', principalArn: roleArn('ReaderRole'), $metadata: { httpStatusCode: 403 } });
    expect(error.message).toBe(
      `User: arn:aws:sts::${ACCOUNT}:assumed-role/iam-test-ReaderRole/fn is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::data/in/a" because no identity-based policy allows the s3:GetObject action`,
    );
    const sns = await authz.assertAuthorized({ principalArn: roleArn('ReaderRole'), operation: 'SNS.Publish', params: { TopicArn: `arn:aws:sns:us-east-1:${ACCOUNT}:alerts` } }).catch((e) => e);
    expect(sns.name).toBe('AccessDeniedException');
  });

  it('identical checks are answered from the decision cache', async () => {
    const before = authz.stats();
    await s3('AppRole', 'S3.HeadObject', { Key: 'in/cached' });
    await s3('AppRole', 'S3.GetObject', { Key: 'in/cached' });
    const after = authz.stats();
    // the first is answered by a simulation or an equivalent resource's decision (in/a), the second by the cache
    expect(after.evaluations + after.classHits - (before.evaluations + before.classHits)).toBe(1);
    expect(after.cacheHits - before.cacheHits).toBe(1);
  });

  it('resources the policies cannot tell apart share one decision, and it equals a fresh evaluation', async () => {
    const fresh = new Authorizer(authz.store, authz.table, { resourceClasses: false });
    const shared = new Authorizer(authz.store, authz.table);
    const keys = ['in/a', 'in/b/c.parquet', 'out/x', 'out/y/z', 'readonly/a', 'readonly/b/c', 'protected/a', 'protected/b', 'shared/a', 'shared/b/c', 'IN/a', 'in'];
    for (const principal of ['AppRole', 'AdminRole', 'ReaderRole', 'PublisherRole']) {
      for (const operation of ['S3.GetObject', 'S3.PutObject', 'S3.DeleteObject']) {
        for (const Bucket of ['data', 'other']) {
          for (const Key of keys) {
            const request = { principalArn: roleArn(principal), operation, params: { Bucket, Key } };
            const [a, b] = [await fresh.authorize(request), await shared.authorize(request)];
            expect({ request, allowed: b.allowed, denied: b.denied, by: b.checks[0].grantedBy }).toEqual({ request, allowed: a.allowed, denied: a.denied, by: a.checks[0].grantedBy });
          }
        }
      }
    }
    expect(shared.stats().classHits).toBeGreaterThan(100);
    expect(fresh.stats().classHits).toBe(0);
  });

  it('the access report lists what each principal used and the granted statements nothing exercised', async () => {
    const report = authz.report();
    const app = report.principals.find((p) => p.principalArn === roleArn('AppRole'))!;
    expect(app.used).toContainEqual(expect.objectContaining({ action: 's3:PutObject', resource: 'arn:aws:s3:::data/out/a', allowed: 1 }));
    expect(app.unexercised.map((u) => `${u.policy}:${u.statement}`)).toEqual(['AppRolePolicy:NeverUsed', 'service-role/AWSLambdaBasicExecutionRole:#1']);
    expect(app.exercised).toContainEqual({ policyType: 'identity', policy: 'AppRolePolicy', statement: 'ListIn' });
  });

  it('an AWS managed policy it has no document for fails the load, named', () => {
    const t = template({ Odd: role('lambda.amazonaws.com', { ManagedPolicyArns: [join('arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonS3FullAccess')] }) });
    expect(() => Authorizer.fromDeployment(deploymentOf(t))).toThrow(UnknownManagedPolicyError);
    expect(() => Authorizer.fromDeployment(deploymentOf(t))).toThrow(/iam-test\/Odd attaches the AWS managed policy arn:aws:iam::aws:policy\/AmazonS3FullAccess/);
  });

  it('a template policy IAM would reject (a resource that is not an ARN) fails the load, named', () => {
    const t = template({ BadPolicy: policy('AppRole', { Effect: 'Allow', Action: 's3:GetObject', Resource: 'data/*' }) });
    expect(() => Authorizer.fromDeployment(deploymentOf(t))).toThrow(PolicyValidationError);
    expect(() => Authorizer.fromDeployment(deploymentOf(t))).toThrow('AppRolePolicy (iam-test/BadPolicy) is not a valid policy: resource "data/*" is not an ARN');
  });
});
