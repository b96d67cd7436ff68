import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DELTA_JARS, getRelease } from '../lib/config/emr-releases';
import { loadStageConfig } from '../lib/config/stage-config';
import { isImagePath, localImageFile } from '../local/emr/image-files';

const ROOT = path.join(__dirname, '..');

describe('the EMR image files a job run names, as the local runner has them', () => {
  // the release a stage gets by default, whose Spark the local runner's pyspark is pinned to
  const release = getRelease(loadStageConfig((key) => (key === 'stages' ? { dev: {} } : undefined)).releaseLabel);

  it('fetches Delta Lake at the version the default release ships', () => {
    const pom = readFileSync(path.join(ROOT, 'local', 'java', 'pom.xml'), 'utf8');
    expect(/<delta\.version>([^<]+)<\/delta\.version>/.exec(pom)?.[1]).toBe(release.delta.version);
  });

  it('maps every Delta jar of the image to its local copy of the version the release ships', () => {
    for (const jar of DELTA_JARS) {
      expect(isImagePath(jar)).toBe(true);
      const local = localImageFile(ROOT, jar);
      expect(path.basename(local)).toContain(release.delta.version);
      expect(path.basename(local)).toMatch(path.basename(jar, '.jar'));
    }
  });

  it('fails the job run naming a file the image does not hold', () => {
    expect(() => localImageFile(ROOT, '/usr/share/aws/iceberg/lib/iceberg-spark3-runtime.jar')).toThrow(
      /is not a file of the EMR image the local runner has.*delta-spark\.jar/,
    );
    expect(isImagePath('s3://bucket/uber.jar')).toBe(false);
  });
});
