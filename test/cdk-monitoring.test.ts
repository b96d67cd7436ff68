import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { isReleaseAtLeast, releaseVersion } from '../lib/config/release-label';
import { AlertsTopic } from '../lib/constructs/alerts-topic';
import { PipelineMonitoring } from '../lib/constructs/pipeline-monitoring';
import { EMR_SERVERLESS_NAMESPACE, SparkApplication, UNSPECIFIED_METRIC_NAME } from '../lib/constructs/spark-application';

/** PipelineMonitoring in a bare stack, for an application of `releaseLabel` (default: the construct's default). */
function synthMonitoring(releaseLabel?: string, { applicationName }: { readonly applicationName?: string } = { applicationName: 'emr-ml-test' }) {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const sparkApplication = new SparkApplication(stack, 'Spark', {
    applicationName,
    releaseLabel,
    maximumCapacity: { cpu: '16 vCPU', memory: '64 GB' },
    logsBucket: new s3.Bucket(stack, 'Logs'),
  });
  new PipelineMonitoring(stack, 'Monitoring', { alerts: new AlertsTopic(stack, 'Alerts'), sparkApplication, stateMachines: {} });
  return Template.fromStack(stack);
}

/** The dashboard body as JSON, the application id rendered as `APPLICATION_ID`. */
function dashboardBody(template: Template): { widgets: Array<{ properties: { title: string; metrics: unknown[][] } }> } {
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  const body = dashboard!.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] } | string;
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1]
          .map((part) => {
            if (typeof part === 'string') return part;
            const getAtt = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
            if (getAtt?.[1] === 'ApplicationId') return 'APPLICATION_ID';
            return `REF_${JSON.stringify(part).replace(/\W/g, '')}`;
          })
          .join('');
  return JSON.parse(text);
}

/** Every `AWS/EMRServerless` metric of the dashboard: its name and dimensions. */
function emrMetrics(template: Template): Array<{ metricName: string; dimensions: Record<string, string> }> {
  return dashboardBody(template).widgets.flatMap((w) =>
    (w.properties.metrics ?? [])
      .filter((m) => m[0] === EMR_SERVERLESS_NAMESPACE)
      .map((m) => {
        const [, metricName, ...rest] = m as [string, string, ...unknown[]];
        const pairs = rest.filter((x) => typeof x === 'string') as string[];
        const dimensions: Record<string, string> = {};
        for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i]!] = pairs[i + 1]!;
        return { metricName, dimensions };
      }),
  );
}

/** Every metric expression (SEARCH / Metrics Insights query) of the dashboard. */
function allExpressions(template: Template): string[] {
  return dashboardBody(template).widgets.flatMap((w) =>
    (w.properties.metrics ?? []).flatMap((m) => m.filter((x) => typeof x === 'object' && x !== null && 'expression' in x).map((x) => (x as { expression: string }).expression)),
  );
}

/** The expressions over EMR Serverless' own metrics. */
function expressions(template: Template): string[] {
  return allExpressions(template).filter((e) => e.includes(EMR_SERVERLESS_NAMESPACE));
}

describe('release labels', () => {
  test('versions compare across the emr- and emr-spark- forms', () => {
    expect(releaseVersion('emr-spark-8.0.0')).toEqual([8, 0, 0]);
    expect(releaseVersion('emr-7.13.0')).toEqual([7, 13, 0]);
    expect(isReleaseAtLeast('emr-7.10.0', '7.10.0')).toBe(true);
    expect(isReleaseAtLeast('emr-7.9.0', '7.10.0')).toBe(false);
    expect(isReleaseAtLeast('emr-6.15.0', '7.10.0')).toBe(false);
    expect(isReleaseAtLeast('emr-spark-8.0.0', '7.10.0')).toBe(true);
    expect(() => releaseVersion('spark-8')).toThrow('"spark-8" is not an EMR release label');
  });
});

describe('dashboard metrics follow the release (R6)', () => {
  test.each([undefined, 'emr-spark-8.0.0', 'emr-7.10.0', 'emr-7.13.0'])(
    'release %s (≥ 7.10): EMR Serverless widgets use ApplicationId + ApplicationName, per-job-run widgets JobName',
    (releaseLabel) => {
      const template = synthMonitoring(releaseLabel);
      const metrics = emrMetrics(template);
      expect(metrics.map((m) => m.metricName).sort()).toEqual(['CPUAllocated', 'FailedJobs', 'MemoryAllocated', 'RunningJobs', 'SuccessJobs']);
      for (const m of metrics) expect(m.dimensions).toEqual({ ApplicationId: 'APPLICATION_ID', ApplicationName: 'emr-ml-test' });
      const queries = expressions(template);
      expect(queries).toEqual(
        ['WorkerCpuUsed', 'WorkerMemoryUsed'].map(
          (metric) =>
            `SELECT SUM(${metric}) FROM SCHEMA("AWS/EMRServerless", ApplicationId, ApplicationName, CapacityAllocationType, JobId, JobName, WorkerType) ` +
            `WHERE ApplicationName = 'emr-ml-test' GROUP BY JobName ORDER BY SUM() DESC LIMIT 10`,
        ),
      );
      const titles = dashboardBody(template).widgets.map((w) => w.properties.title);
      expect(titles).toEqual(expect.arrayContaining(['EMR Serverless jobs and capacity (by ApplicationName)', 'vCPU used per job run (JobName, top 10)']));
    },
  );

  test.each(['emr-7.9.0', 'emr-7.1.0', 'emr-6.15.0'])('release %s (< 7.10): the ApplicationId dimensions it still publishes', (releaseLabel) => {
    const template = synthMonitoring(releaseLabel);
    const metrics = emrMetrics(template);
    expect(metrics).toHaveLength(5);
    for (const m of metrics) expect(m.dimensions).toEqual({ ApplicationId: 'APPLICATION_ID' });
    for (const query of expressions(template)) {
      expect(query).toMatch(/^SELECT SUM\(Worker(Cpu|Memory)Used\) FROM SCHEMA\("AWS\/EMRServerless", ApplicationId, CapacityAllocationType, JobId, WorkerType\) WHERE ApplicationId = 'APPLICATION_ID' GROUP BY JobId /);
    }
    expect(JSON.stringify(dashboardBody(template))).not.toMatch(/ApplicationName|JobName/);
  });

  test('queue time, start latency and run time per step are graphed from the metrics record-job-cost publishes', () => {
    const searches = allExpressions(synthMonitoring('emr-spark-8.0.0')).filter((e) => !e.includes(EMR_SERVERLESS_NAMESPACE));
    expect(searches).toEqual(
      ['QueuedSeconds', 'StartLatencySeconds', 'RunSeconds'].map((m) => `SEARCH('{EmrMlPipelines/JobRuns,Step} MetricName="${m}"', 'Maximum', 300)`),
    );
  });

  test('an application without a name is published as [Unspecified] from 7.10', () => {
    const metrics = emrMetrics(synthMonitoring('emr-spark-8.0.0', {}));
    for (const m of metrics) expect(m.dimensions.ApplicationName).toBe(UNSPECIFIED_METRIC_NAME);
  });

  test('the job-failure rule watches the application regardless of the release', () => {
    for (const releaseLabel of ['emr-spark-8.0.0', 'emr-7.9.0']) {
      synthMonitoring(releaseLabel).hasResourceProperties('AWS::Events::Rule', {
        EventPattern: { detail: { state: ['FAILED'], applicationId: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^Spark'), 'ApplicationId'] }] } },
      });
    }
  });
});
