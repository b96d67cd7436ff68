import { PRICE_DATE, PRICE_SOURCE, PRICE_TABLE, type Architecture, type UnitPrices } from './price-table';

/** `billedResourceUtilization` / `totalResourceUtilization` of GetJobRun (all fields optional in the API). */
export interface ResourceUtilization {
  readonly vCPUHour?: number;
  readonly memoryGBHour?: number;
  readonly storageGBHour?: number;
}

/** The cost record of one job run, priced from its billed utilization (GetJobRun). */
export interface JobCost {
  readonly source: 'emr-serverless';
  readonly vCPUHour: number;
  readonly memoryGBHour: number;
  readonly storageGBHour: number;
  /** Total cost in USD, rounded to 6 decimals. */
  readonly costUsd: number;
  readonly breakdownUsd: { readonly vCPU: number; readonly memory: number; readonly storage: number };
  readonly region: string;
  readonly architecture: Architecture;
  readonly priceSource: string;
  readonly priceDate: string;
  /** Wall-clock seconds of the run (GetJobRun `totalExecutionDurationSeconds`). */
  readonly wallSeconds?: number;
}

export class UnknownPriceError extends Error {
  constructor(region: string, arch: string) {
    super(
      `No EMR Serverless price for region "${region}" and architecture "${arch}" in lib/cost/price-table.ts ` +
        `(known regions: ${Object.keys(PRICE_TABLE).join(', ')}; architectures: X86_64, ARM64).`,
    );
    this.name = 'UnknownPriceError';
  }
}

export function unitPrices(region: string, arch: string): UnitPrices {
  const byArch = PRICE_TABLE[region];
  const prices = byArch?.[arch as Architecture];
  if (!prices) throw new UnknownPriceError(region, arch);
  return prices;
}

const usd = (value: number) => Math.round(value * 1e6) / 1e6;

function quantity(name: string, value: number | undefined): number {
  const v = value ?? 0;
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a non-negative number, got ${value}`);
  return v;
}

/**
 * Cost of one job run from its `billedResourceUtilization` (GetJobRun), priced with the table for `region`
 * and `arch`.
 * @throws UnknownPriceError when the table has no price for the region/architecture.
 */
export function cost(
  billedResourceUtilization: ResourceUtilization,
  region: string,
  arch: Architecture | string,
  extra: { wallSeconds?: number } = {},
): JobCost {
  const prices = unitPrices(region, arch);
  const vCPUHour = quantity('vCPUHour', billedResourceUtilization.vCPUHour);
  const memoryGBHour = quantity('memoryGBHour', billedResourceUtilization.memoryGBHour);
  const storageGBHour = quantity('storageGBHour', billedResourceUtilization.storageGBHour);
  const breakdownUsd = {
    vCPU: usd(vCPUHour * prices.vCPUHour),
    memory: usd(memoryGBHour * prices.memoryGBHour),
    storage: usd(storageGBHour * prices.storageGBHour),
  };
  return {
    source: 'emr-serverless',
    vCPUHour,
    memoryGBHour,
    storageGBHour,
    costUsd: usd(vCPUHour * prices.vCPUHour + memoryGBHour * prices.memoryGBHour + storageGBHour * prices.storageGBHour),
    breakdownUsd,
    region,
    architecture: arch as Architecture,
    priceSource: PRICE_SOURCE,
    priceDate: PRICE_DATE,
    ...(extra.wallSeconds !== undefined ? { wallSeconds: extra.wallSeconds } : {}),
  };
}

export interface CostTotal {
  readonly runs: number;
  readonly vCPUHour: number;
  readonly memoryGBHour: number;
  readonly storageGBHour: number;
  readonly costUsd: number;
}

/** Sum of several cost records. */
export function sumCosts(records: readonly Pick<JobCost, 'vCPUHour' | 'memoryGBHour' | 'storageGBHour' | 'costUsd'>[]): CostTotal {
  const total = records.reduce(
    (acc, r) => ({
      vCPUHour: acc.vCPUHour + r.vCPUHour,
      memoryGBHour: acc.memoryGBHour + r.memoryGBHour,
      storageGBHour: acc.storageGBHour + r.storageGBHour,
      costUsd: acc.costUsd + r.costUsd,
    }),
    { vCPUHour: 0, memoryGBHour: 0, storageGBHour: 0, costUsd: 0 },
  );
  return { runs: records.length, ...total, costUsd: usd(total.costUsd) };
}
