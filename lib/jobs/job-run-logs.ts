/**
 * Where EMR Serverless writes a job run's driver logs under the run's S3 `logUri`
 * (`monitoringConfiguration.s3MonitoringConfiguration`): `<logUri>/applications/<app>/jobs/<run>/SPARK_DRIVER/`
 * with `stdout.gz` and `stderr.gz`. Under a retry policy, attempts after the first get their own prefix
 * `…/jobs/<run>/attempts/<n>/SPARK_DRIVER/` (EMR Serverless User Guide, "Job resiliency").
 */
export function driverLogPrefix(logUri: string, applicationId: string, jobRunId: string, attempt = 1): string {
  const run = `${logUri.replace(/\/+$/, '')}/applications/${applicationId}/jobs/${jobRunId}`;
  return attempt > 1 ? `${run}/attempts/${attempt}/SPARK_DRIVER` : `${run}/SPARK_DRIVER`;
}

/** `s3://bucket/key` of a job run attempt's driver log (`stderr` holds Spark's log and a Python traceback). */
export function driverLogUri(logUri: string, applicationId: string, jobRunId: string, stream: 'stdout' | 'stderr', attempt = 1): string {
  return `${driverLogPrefix(logUri, applicationId, jobRunId, attempt)}/${stream}.gz`;
}
