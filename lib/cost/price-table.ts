/**
 * EMR Serverless on-demand prices, USD, by region and architecture — the one place prices live.
 *
 * Source: Amazon EMR pricing, "Amazon EMR Serverless" section (https://aws.amazon.com/emr/pricing/), x86 prices
 * for us-east-1 as quoted by third-party pages that agree with each other (the official page could not be
 * opened from the build machine); ARM64 (Graviton) prices are the x86 prices less the documented 20%
 * ("AWS Graviton2 is offered at a 20% lower cost than the x86 architecture option", AWS Big Data Blog).
 * The US regions listed share the us-east-1 price list. Retrieved: 2026-11-21.
 *
 * Storage is charged only for ephemeral storage above the free 20 GB per worker; `billedResourceUtilization`
 * from GetJobRun already excludes the free part and includes the one-minute minimum per worker, so
 * cost = Σ billed quantity × unit price with no further adjustment.
 *
 * To add a region, add a row here (and say where its prices came from in the comment above).
 */

export type Architecture = 'X86_64' | 'ARM64';

export interface UnitPrices {
  /** USD per vCPU-hour. */
  readonly vCPUHour: number;
  /** USD per memory GB-hour. */
  readonly memoryGBHour: number;
  /** USD per ephemeral-storage GB-hour (above the free 20 GB per worker). */
  readonly storageGBHour: number;
}

export const PRICE_SOURCE = 'https://aws.amazon.com/emr/pricing/ (EMR Serverless, on-demand)';
export const PRICE_DATE = '2026-11-21';

const US_X86: UnitPrices = { vCPUHour: 0.052624, memoryGBHour: 0.0057785, storageGBHour: 0.000111 };
const GRAVITON_DISCOUNT = 0.8;
const US_ARM: UnitPrices = {
  vCPUHour: round(US_X86.vCPUHour * GRAVITON_DISCOUNT, 7),
  memoryGBHour: round(US_X86.memoryGBHour * GRAVITON_DISCOUNT, 8),
  storageGBHour: US_X86.storageGBHour,
};

/** region → architecture → unit prices. */
export const PRICE_TABLE: Readonly<Record<string, Readonly<Record<Architecture, UnitPrices>>>> = {
  'us-east-1': { X86_64: US_X86, ARM64: US_ARM },
  'us-east-2': { X86_64: US_X86, ARM64: US_ARM },
  'us-west-2': { X86_64: US_X86, ARM64: US_ARM },
};

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
