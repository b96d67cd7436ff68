/**
 * EMR release labels: `emr-<major>.<minor>.<patch>` (emr-7.13.0) and, from release 8, `emr-spark-<major>.<minor>.<patch>`
 * (emr-spark-8.0.0). The version numbers continue across the two forms, so releases compare by version alone.
 */
export const RELEASE_LABEL_PATTERN = /^emr-(spark-)?(\d+)\.(\d+)\.(\d+)$/;

export type ReleaseVersion = readonly [major: number, minor: number, patch: number];

/** `emr-7.10.0` → `[7, 10, 0]`, `emr-spark-8.0.0` → `[8, 0, 0]`. @throws Error naming the label when it is not one. */
export function releaseVersion(releaseLabel: string): ReleaseVersion {
  const match = RELEASE_LABEL_PATTERN.exec(releaseLabel);
  if (!match) throw new Error(`"${releaseLabel}" is not an EMR release label like emr-spark-8.0.0 or emr-7.13.0`);
  return [Number(match[2]), Number(match[3]), Number(match[4])];
}

/** Whether `releaseLabel` is `since` or a later release (`since` as `7.10.0` or a label). */
export function isReleaseAtLeast(releaseLabel: string, since: string): boolean {
  const have = releaseVersion(releaseLabel);
  const want = releaseVersion(since.startsWith('emr-') ? since : `emr-${since}`);
  for (let i = 0; i < 3; i += 1) {
    if (have[i] !== want[i]) return have[i]! > want[i]!;
  }
  return true;
}
