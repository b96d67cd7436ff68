import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifactKey, type Manifest, serializeManifest } from '../../lib/jobs/manifest';

/**
 * Writes a tiny `npm run package` output into `dir` (manifest.json + the files it lists, real hashes and sizes),
 * so CDK tests do not depend on whether the repository's `artifacts/` has been built.
 */
export function writeArtifacts(dir: string): { manifest: Manifest; text: string; sha256: string } {
  fs.mkdirSync(dir, { recursive: true });
  const files: Array<[Manifest['artifacts'][number]['kind'], string, string, string?]> = [
    ['python-deps', 'python-deps.tar.gz', 'deps-bytes', 'environment'],
    ['pyfiles', 'pyfiles.zip', 'pyfiles-bytes'],
    ['entry-point', 'etl.py', 'print("etl")\n'],
  ];
  const artifacts = files.map(([kind, file, content, alias]) => {
    fs.writeFileSync(path.join(dir, file), content);
    const sha256 = createHash('sha256').update(content).digest('hex');
    return { kind, file, key: artifactKey(sha256, file), sha256, size: Buffer.byteLength(content), ...(alias ? { archiveAlias: alias } : {}) };
  });
  const manifest: Manifest = {
    schemaVersion: 1,
    builtFor: { releaseLabel: 'emr-spark-8.0.0', sparkVersion: '4.0.2', pythonVersion: '3.11', architecture: 'x86_64', platforms: ['manylinux2014_x86_64'], implementation: 'cp' },
    inputs: { requirements: '0'.repeat(64) },
    pythonPackages: {},
    artifacts,
    sparkConf: { 'spark.executorEnv.PYSPARK_PYTHON': './environment/bin/python' },
  };
  const text = serializeManifest(manifest);
  fs.writeFileSync(path.join(dir, 'manifest.json'), text);
  return { manifest, text, sha256: createHash('sha256').update(text).digest('hex') };
}
