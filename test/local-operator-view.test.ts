/**
 * The local side of the operator view: local job runs write Spark event logs to `<local tree>/spark-events/`
 * (named after their job run), `emrpipe --local ui` serves them with Spark's own History Server (a real JVM from
 * the pinned pyspark, no Spark job), and `emrpipe --local list` reaches local/cli.ts's implementation.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { main } from '../cli';
import type { CliIo } from '../cli/context';
import { CliContext } from '../cli/context';
import { uiCommand } from '../cli/commands/ui';
import { JobRunAccess, SparkSubmitCommand } from '../local/emr/spark-submit';
import type { StartJobRunRequest } from '../local/emr/job-run';
import { applicationsOf, findSparkApplications, listApplications } from '../local/history-server';
import { LocalLayout } from '../local/layout';
import { role, statements, trust } from './support/hand-assembly';

const projectRoot = path.resolve(__dirname, '..');
const work = path.join(projectRoot, '.local', 'test-operator-view');

beforeAll(() => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
});

function capture(cwd = projectRoot): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t) => out.push(t), err: (t) => err.push(t), sleep: async () => undefined, now: () => new Date(), cwd } };
}

/** A small event log as Spark 4 writes it (rolling: `eventlog_v2_<app>/events_1_<app>` + `appstatus_<app>`), or as one file. */
function writeEventLog(dir: string, appId: string, props: Record<string, string>, options: { rolling?: boolean; inProgress?: boolean; start?: number } = {}): void {
  const start = options.start ?? 1796159854983;
  const lines = [
    { Event: 'SparkListenerLogStart', 'Spark Version': '4.0.2' },
    {
      Event: 'SparkListenerEnvironmentUpdate',
      'JVM Information': { 'Java Version': '17.0.15 (Debian)' },
      'Spark Properties': { 'spark.app.name': props.name ?? appId, 'spark.master': 'local[2]', ...props },
      'Hadoop Properties': {},
      'System Properties': {},
      'Metrics Properties': {},
      'Classpath Entries': {},
    },
    { Event: 'SparkListenerApplicationStart', 'App Name': props.name ?? appId, 'App ID': appId, Timestamp: start, User: 'operator' },
    ...(options.inProgress ? [] : [{ Event: 'SparkListenerApplicationEnd', Timestamp: start + 6000, ExitCode: 0 }]),
  ];
  const text = `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
  mkdirSync(dir, { recursive: true });
  if (options.rolling === false) {
    writeFileSync(path.join(dir, `${appId}${options.inProgress ? '.inprogress' : ''}`), text);
    return;
  }
  const appDir = path.join(dir, `eventlog_v2_${appId}`);
  mkdirSync(appDir, { recursive: true });
  writeFileSync(path.join(appDir, `events_1_${appId}`), text);
  writeFileSync(path.join(appDir, `appstatus_${appId}${options.inProgress ? '.inprogress' : ''}`), '');
}

describe('event logs of local job runs', () => {
  test('spark-submit writes uncompressed event logs to <root>/spark-events, named after the job run', () => {
    const layout = new LocalLayout(path.join(work, 'submit-root')).ensure();
    const entryPoint = path.join(work, 'job.py');
    writeFileSync(entryPoint, 'print("hi")\n');
    const access: JobRunAccess = {
      endpointUrl: 'https://127.0.0.1:1',
      certificate: { pfx: Buffer.alloc(0), passphrase: '', trustStore: '/dev/null', trustStorePassword: 'x', caFile: '/dev/null', caPem: '' },
      s3aJars: [],
      credential: (principalArn) => ({ accessKeyId: 'AKIA', secretAccessKey: 's', sessionToken: 't', principalArn, callerArn: principalArn }),
      assertMayAssume: async () => undefined,
      assertMayRead: async () => undefined,
      mayWrite: async () => true,
    };
    const command = new SparkSubmitCommand(layout, { projectRoot, fastStartup: false }, access);
    const request: StartJobRunRequest = {
      ApplicationId: '00appid0000000001',
      ExecutionRoleArn: 'arn:aws:iam::000000000000:role/job',
      ClientToken: 't',
      Name: 'emr-ml-dev-recommender-training-r1-etl-train',
      JobDriver: { SparkSubmit: { EntryPoint: entryPoint, SparkSubmitParameters: '--conf spark.sql.shuffle.partitions=3' } },
      Tags: { stateMachine: 'emr-ml-dev-recommender-training', execution: 'r1' },
    };
    const { argv } = command.prepare(request, '00jobrun00000001');
    const conf = argv.flatMap((a, i) => (argv[i - 1] === '--conf' ? [a] : []));
    const eventsDir = path.join(layout.root, 'spark-events');
    expect(existsSync(eventsDir)).toBe(true);
    expect(conf).toEqual(
      expect.arrayContaining([
        'spark.eventLog.enabled=true',
        `spark.eventLog.dir=${pathToFileURL(eventsDir).href}`,
        'spark.eventLog.compress=false',
        'spark.localRunner.jobRunId=00jobrun00000001',
        'spark.localRunner.applicationId=00appid0000000001',
        'spark.localRunner.stateMachine=emr-ml-dev-recommender-training',
        'spark.localRunner.execution=r1',
      ]),
    );
  });

  test('the applications of a directory, by job run, execution or Spark application id', async () => {
    const dir = path.join(work, 'find', 'spark-events');
    writeEventLog(dir, 'local-1000', { name: 'etl-train', 'spark.localRunner.jobRunId': '00run1', 'spark.localRunner.stateMachine': 'emr-ml-dev-recommender-training', 'spark.localRunner.execution': 'r1' }, { start: 1000 });
    writeEventLog(dir, 'local-2000', { name: 'etl-train', 'spark.localRunner.jobRunId': '00run1', 'spark.localRunner.execution': 'r1' }, { start: 2000, rolling: false });
    writeEventLog(dir, 'local-3000', { name: 'train', 'spark.localRunner.jobRunId': '00run2', 'spark.localRunner.stateMachine': 'emr-ml-dev-recommender-training', 'spark.localRunner.execution': 'r1' }, { start: 3000, inProgress: true });
    writeEventLog(dir, 'local-4000', { name: 'adhoc' }, { start: 4000, rolling: false, inProgress: true });
    writeFileSync(path.join(dir, '.local-4000.inprogress.crc'), 'crc');
    const apps = await findSparkApplications(dir);
    expect(apps.map((a) => [a.appId, a.jobRunId, a.inProgress])).toEqual([
      ['local-1000', '00run1', false],
      ['local-2000', '00run1', false],
      ['local-3000', '00run2', true],
      ['local-4000', undefined, true],
    ]);
    expect(applicationsOf(apps, '00run1').map((a) => a.appId)).toEqual(['local-1000', 'local-2000']); // two attempts
    expect(applicationsOf(apps, 'r1').map((a) => a.appId)).toEqual(['local-1000', 'local-2000', 'local-3000']);
    expect(applicationsOf(apps, 'emr-ml-dev-recommender-training/r1').map((a) => a.appId)).toEqual(['local-1000', 'local-3000']);
    expect(applicationsOf(apps, 'local-4000').map((a) => a.name)).toEqual(['adhoc']);
    expect(applicationsOf(apps, 'nope')).toEqual([]);
    expect(await findSparkApplications(path.join(work, 'missing'))).toEqual([]);
  });
});

describe('emrpipe --local ui', () => {
  test("serves Spark's History Server over the event logs and prints the job run's application page", async () => {
    const root = path.join(work, 'ui-root');
    writeEventLog(path.join(root, 'spark-events'), 'local-1796159855747', { name: 'emr-ml-dev-recommender-training-r1-train', 'spark.localRunner.jobRunId': '00jobrun1', 'spark.localRunner.execution': 'r1' });
    const { io, out } = capture();
    const ctx = new CliContext({ stage: 'dev', local: true, root }, io);
    let release!: () => void;
    const until = new Promise<void>((resolve) => (release = resolve));
    const serving = uiCommand(ctx, '00jobrun1', { until });
    try {
      const deadline = Date.now() + 150_000;
      while (out.length < 2 && Date.now() < deadline) {
        if (await Promise.race([serving.then(() => true, () => true), new Promise((r) => setTimeout(() => r(false), 250))])) break;
      }
      expect(out[0]).toMatch(/^Spark History Server on http:\/\/127\.0\.0\.1:\d+\/ over \.local\/test-operator-view\/ui-root\/spark-events\/ \(Ctrl-C stops it\)$/);
      const url = /on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out[0]!)![1]!;
      expect(out[1]).toBe(`  emr-ml-dev-recommender-training-r1-train (job run 00jobrun1): ${url}/history/local-1796159855747/jobs/`);
      expect(await listApplications(url)).toEqual(['local-1796159855747']);
      const page = await fetch(`${url}/history/local-1796159855747/jobs/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('emr-ml-dev-recommender-training-r1-train');
    } finally {
      release();
      await serving;
    }
    expect(await listApplications(/on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out[0]!)![1]!)).toBeUndefined(); // stopped
  }, 200_000);

  test('a run without event logs is explained (no server started)', async () => {
    const root = path.join(work, 'ui-empty');
    const { io } = capture();
    await expect(uiCommand(new CliContext({ stage: 'dev', local: true, root }, io), '00jobrun1', {})).rejects.toThrow(
      'No Spark event logs under .local/test-operator-view/ui-empty/spark-events/ (local job runs write them there): run a pipeline with --local first.',
    );
    writeEventLog(path.join(root, 'spark-events'), 'local-1', { 'spark.localRunner.jobRunId': '00other' });
    const r = capture();
    const code = await main(['--local', '--root', root, 'ui', '00jobrun1'], r.io);
    expect(code).toBe(1);
    expect(r.err).toEqual([
      'emrpipe: No Spark application of job run or execution "00jobrun1" under .local/test-operator-view/ui-empty/spark-events/ (1 other applications there): give a local job run id, an execution name or a Spark application id.',
    ]);
  });
});

describe('emrpipe --local list', () => {
  /** A hand-written assembly: one state machine with a Lambda task, a Pass and an SNS publish. */
  function writeAssembly(dir: string): void {
    mkdirSync(path.join(dir, 'asset.hello'), { recursive: true });
    writeFileSync(path.join(dir, 'asset.hello', 'index.js'), 'exports.handler = async () => ({ hello: "world" });\n');
    const definition = {
      StartAt: 'Say hello',
      States: {
        'Say hello': { Type: 'Task', Resource: '${HelloArn}', Next: 'Wait a bit' },
        'Wait a bit': { Type: 'Pass', Next: 'Notify' },
        Notify: { Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Parameters: { TopicArn: '${TopicArn}', Message: 'done' }, End: true },
      },
    };
    const tokens: Record<string, unknown> = { '${HelloArn}': { 'Fn::GetAtt': ['HelloFunction1A2B3C4D', 'Arn'] }, '${TopicArn}': { Ref: 'AlertsTopicAABBCCDD' } };
    const template = {
      Resources: {
        AlertsTopicAABBCCDD: { Type: 'AWS::SNS::Topic', Properties: {} },
        HelloRole22CC33DD: role('lambda.amazonaws.com'),
        HelloFunction1A2B3C4D: {
          Type: 'AWS::Lambda::Function',
          Properties: { Handler: 'index.handler', Runtime: 'nodejs22.x', Timeout: 10, Role: { 'Fn::GetAtt': ['HelloRole22CC33DD', 'Arn'] } },
          Metadata: { 'aws:asset:path': 'asset.hello' },
        },
        PipelineRole66AA77BB: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: trust('states.amazonaws.com') } },
        PipelineRolePolicy88CC99DD: {
          Type: 'AWS::IAM::Policy',
          Properties: {
            PolicyName: 'pipeline',
            Roles: [{ Ref: 'PipelineRole66AA77BB' }],
            PolicyDocument: statements({ Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': ['HelloFunction1A2B3C4D', 'Arn'] } }, { Action: 'sns:Publish', Resource: { Ref: 'AlertsTopicAABBCCDD' } }),
          },
        },
        HelloStateMachine99887766: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: {
            StateMachineName: 'local-hello-pipeline',
            RoleArn: { 'Fn::GetAtt': ['PipelineRole66AA77BB', 'Arn'] },
            DefinitionString: { 'Fn::Join': ['', JSON.stringify(definition).split(/(\$\{[A-Za-z]+\})/).map((p) => tokens[p] ?? p)] },
          },
        },
      },
    };
    writeFileSync(path.join(dir, 'HelloStack.template.json'), JSON.stringify(template));
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ version: '1', artifacts: { HelloStack: { type: 'aws:cloudformation:stack', properties: { templateFile: 'HelloStack.template.json' } } } }));
  }

  test('lists the state machines and what runs each task state (local/cli.ts list through emrpipe)', async () => {
    const assembly = path.join(work, 'list-assembly');
    writeAssembly(assembly);
    const root = mkdtempSync(path.join(work, 'list-root-'));
    const { io, out, err } = capture();
    const code = await main(['--local', '--root', root, '--assembly', path.relative(projectRoot, assembly), 'list'], io);
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out).toEqual([
      'local-hello-pipeline',
      `  ${'Say hello'.padEnd(34)} handler ${path.relative(process.cwd(), path.join(assembly, 'asset.hello', 'index.js'))}`,
      `  ${'Notify'.padEnd(34)} alerts file`,
    ]);
  }, 120_000);
});
