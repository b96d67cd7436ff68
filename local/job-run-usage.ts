/**
 * What GetJobRun reports about a local job run's resources, in EMR Serverless' own terms, so handlers that read
 * GetJobRun (record-job-cost) price a local run exactly as a cloud one:
 *
 * - the run is one worker: the local driver process, sized by what the runner gives it — `local[N]` cores as
 *   vCPU (`local[*]`: the machine's cores), the driver heap as memory (`2g` → 2 GB), and the 20 GB of ephemeral
 *   storage every EMR Serverless worker has;
 * - `totalResourceUtilization`: vCPU, memory and storage × the run time, rounded up to the second (GetJobRun:
 *   "from the time the job starts to execute, until the time the job terminates, rounded up to the nearest
 *   second");
 * - `billedResourceUtilization`: the same with EMR Serverless' billing rules — a one-minute minimum per worker,
 *   and only storage above the free 20 GB per worker (EMR Serverless "Other considerations"); a run that never
 *   left the queue had no worker and bills nothing.
 */
import { cpus } from 'node:os';

/** The free ephemeral storage per worker, and the default worker disk. */
export const FREE_STORAGE_GB = 20;
/** Minimum billed usage per worker. */
export const MINIMUM_BILLED_SECONDS = 60;

export interface LocalWorker {
  readonly vCPU: number;
  readonly memoryGB: number;
  readonly storageGB: number;
}

/** GetJobRun's `ResourceUtilization` (SDK camelCase). */
export interface ResourceUtilization {
  readonly vCPUHour: number;
  readonly memoryGBHour: number;
  readonly storageGBHour: number;
}

/** The worker a local run gets from `--master local[N]` and `spark.driver.memory`. */
export function localWorker(master = 'local[2]', driverMemory = '2g'): LocalWorker {
  const cores = /^local\[(\d+|\*)(?:,\d+)?\]$/.exec(master)?.[1];
  const vCPU = cores === undefined ? 1 : cores === '*' ? cpus().length : Number(cores);
  return { vCPU, memoryGB: memoryGB(driverMemory), storageGB: FREE_STORAGE_GB };
}

/** A JVM memory string (`512m`, `2g`, `1t`, bytes) in GB. */
export function memoryGB(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)b?$/i.exec(text.trim());
  if (!m) throw new RangeError(`Not a JVM memory size: "${text}"`);
  const scale: Record<string, number> = { '': 1 / 1024 ** 3, k: 1 / 1024 ** 2, m: 1 / 1024, g: 1, t: 1024 };
  return Number(m[1]) * scale[m[2]!.toLowerCase()]!;
}

/** Total and billed use of one worker that ran `runSeconds` (0 when it never started). */
export function jobRunUtilization(worker: LocalWorker, runSeconds: number): { total: ResourceUtilization; billed: ResourceUtilization } {
  const seconds = Math.ceil(Math.max(0, runSeconds));
  const billedSeconds = seconds > 0 ? Math.max(MINIMUM_BILLED_SECONDS, seconds) : 0;
  const hours = (s: number) => s / 3600;
  return {
    total: {
      vCPUHour: round6(worker.vCPU * hours(seconds)),
      memoryGBHour: round6(worker.memoryGB * hours(seconds)),
      storageGBHour: round6(worker.storageGB * hours(seconds)),
    },
    billed: {
      vCPUHour: round6(worker.vCPU * hours(billedSeconds)),
      memoryGBHour: round6(worker.memoryGB * hours(billedSeconds)),
      storageGBHour: round6(Math.max(0, worker.storageGB - FREE_STORAGE_GB) * hours(billedSeconds)),
    },
  };
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
