/**
 * Custom CloudWatch metrics of job runs, published by the record-job-cost Lambda (embedded metric format) and
 * graphed by the dashboard: seconds spent QUEUED, submitted → running (queue plus worker start) and run time,
 * from GetJobRun's `queuedDurationMilliseconds`, `createdAt`/`startedAt` and `totalExecutionDurationSeconds`.
 */
export const JOB_RUN_METRICS_NAMESPACE = 'EmrMlPipelines/JobRuns';
export const JOB_RUN_METRIC_DIMENSION = 'Step';
export const JOB_RUN_TIMING_METRICS = ['QueuedSeconds', 'StartLatencySeconds', 'RunSeconds'] as const;
