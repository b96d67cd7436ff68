import { cost, sumCosts, UnknownPriceError } from '../lib/cost/cost';
import { PRICE_DATE, PRICE_SOURCE, PRICE_TABLE } from '../lib/cost/price-table';

describe('cost()', () => {
  test('prices billed utilization with the us-east-1 x86 table', () => {
    // 1 vCPU-hour, 4 GB-hours, 10 storage GB-hours
    const c = cost({ vCPUHour: 1, memoryGBHour: 4, storageGBHour: 10 }, 'us-east-1', 'X86_64');
    expect(c.breakdownUsd).toEqual({ vCPU: 0.052624, memory: 0.023114, storage: 0.00111 });
    expect(c.costUsd).toBeCloseTo(0.052624 + 4 * 0.0057785 + 10 * 0.000111, 6);
    expect(c.costUsd).toBe(0.076848);
    expect(c).toMatchObject({ source: 'emr-serverless', region: 'us-east-1', architecture: 'X86_64', priceSource: PRICE_SOURCE, priceDate: PRICE_DATE });
  });

  test('a typical small job: 0.25 vCPU-h, 1 GB-h, no extra storage', () => {
    const c = cost({ vCPUHour: 0.25, memoryGBHour: 1, storageGBHour: 0 }, 'us-west-2', 'X86_64');
    expect(c.costUsd).toBe(0.018935); // 0.013156 + 0.0057785, rounded to 6 decimals
  });

  test('ARM64 is 20% cheaper for compute and memory', () => {
    const x86 = cost({ vCPUHour: 10, memoryGBHour: 40 }, 'us-east-1', 'X86_64');
    const arm = cost({ vCPUHour: 10, memoryGBHour: 40 }, 'us-east-1', 'ARM64');
    expect(arm.costUsd).toBeCloseTo(x86.costUsd * 0.8, 5);
    expect(arm.costUsd).toBeLessThan(x86.costUsd);
  });

  test('missing fields count as zero (the API marks them optional)', () => {
    expect(cost({}, 'us-east-1', 'X86_64').costUsd).toBe(0);
    expect(cost({ vCPUHour: 2 }, 'us-east-1', 'X86_64').costUsd).toBe(0.105248);
  });

  test('unknown region or architecture is a clear error', () => {
    expect(() => cost({ vCPUHour: 1 }, 'mars-north-1', 'X86_64')).toThrow(UnknownPriceError);
    expect(() => cost({ vCPUHour: 1 }, 'mars-north-1', 'X86_64')).toThrow(/region "mars-north-1"/);
    expect(() => cost({ vCPUHour: 1 }, 'us-east-1', 'RISCV')).toThrow(/architecture "RISCV"/);
  });

  test('negative or non-numeric quantities are rejected naming the field', () => {
    expect(() => cost({ vCPUHour: -1 }, 'us-east-1', 'X86_64')).toThrow(/vCPUHour/);
    expect(() => cost({ memoryGBHour: Number.NaN }, 'us-east-1', 'X86_64')).toThrow(/memoryGBHour/);
  });

  test('every table row has positive prices for both architectures', () => {
    for (const [region, byArch] of Object.entries(PRICE_TABLE)) {
      for (const arch of ['X86_64', 'ARM64'] as const) {
        const p = byArch[arch];
        expect([region, arch, p.vCPUHour > 0 && p.memoryGBHour > 0 && p.storageGBHour > 0]).toEqual([region, arch, true]);
      }
    }
  });
});

describe('sumCosts()', () => {
  test('adds quantities and cost', () => {
    const a = cost({ vCPUHour: 1, memoryGBHour: 4 }, 'us-east-1', 'X86_64');
    const b = cost({ vCPUHour: 3, memoryGBHour: 12, storageGBHour: 100 }, 'us-east-1', 'X86_64');
    const total = sumCosts([a, b]);
    expect(total).toMatchObject({ runs: 2, vCPUHour: 4, memoryGBHour: 16, storageGBHour: 100 });
    expect(total.costUsd).toBeCloseTo(a.costUsd + b.costUsd, 6);
    expect(sumCosts([])).toEqual({ runs: 0, vCPUHour: 0, memoryGBHour: 0, storageGBHour: 0, costUsd: 0 });
  });
});
