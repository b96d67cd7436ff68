import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { JobRunFailedError } from './job-run';

/**
 * Files of the EMR Serverless image that a job run names by path (`spark.jars=/usr/share/aws/delta/lib/…`), as
 * the local runner's copies: the same Maven Central artifacts at the version the pinned release ships
 * (local/java/pom.xml profile `delta`, fetched by scripts/setup.sh into `.cache/local-jars/delta/`).
 */
const IMAGE_JARS: ReadonlyArray<{ readonly imagePath: string; readonly dir: string; readonly artifact: RegExp }> = [
  { imagePath: '/usr/share/aws/delta/lib/delta-spark.jar', dir: 'delta', artifact: /^delta-spark_[\d.]+-[\d.]+\.jar$/ },
  { imagePath: '/usr/share/aws/delta/lib/delta-storage.jar', dir: 'delta', artifact: /^delta-storage-[\d.]+\.jar$/ },
];

/** Whether `file` is a path on the EMR image (not an artifact of the request). */
export function isImagePath(file: string): boolean {
  return file.startsWith('/usr/share/aws/') || file.startsWith('/usr/lib/spark/');
}

/** The local copy of an image file; fails the job run, like a missing file on EMR, when there is none. */
export function localImageFile(projectRoot: string, imagePath: string): string {
  const known = IMAGE_JARS.find((j) => j.imagePath === imagePath);
  const dir = known && path.join(projectRoot, '.cache', 'local-jars', known.dir);
  const file = dir && existsSync(dir) ? readdirSync(dir).find((f) => known.artifact.test(f)) : undefined;
  if (!known || !dir || !file) {
    throw new JobRunFailedError(
      `Job run failed before start: ${imagePath} is not a file of the EMR image the local runner has` +
        (known ? ` (expected in ${dir}: run "bash scripts/setup.sh")` : ` (known: ${IMAGE_JARS.map((j) => j.imagePath).join(', ')})`),
      undefined,
      'EMRServerless.ValidationException',
    );
  }
  return path.join(dir, file);
}
