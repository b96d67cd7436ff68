import * as z from 'zod';

/**
 * The artifact manifest written by `npm run package` (`artifacts/manifest.json`) and published by the
 * package-dependencies custom resource to `manifests/<sha256>.json` and `manifests/current.json` in the artifacts
 * bucket. Every job request pins the content-addressed keys listed here.
 */

export const ARTIFACT_KINDS = ['python-deps', 'pyfiles', 'entry-point', 'uber-jar', 'models'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256');

export const ArtifactSchema = z
  .object({
    kind: z.enum(ARTIFACT_KINDS),
    /** File name under `artifacts/` locally and under `artifacts/<sha256>/` in the bucket. */
    file: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a plain file name'),
    /** Content-addressed key in the artifacts bucket: `artifacts/<sha256>/<file>`. */
    key: z.string().regex(/^artifacts\/[0-9a-f]{64}\/[A-Za-z0-9._-]+$/, 'must be artifacts/<sha256>/<file>'),
    sha256: sha256Hex,
    size: z.number().int().min(0),
    /** For archives shipped with `spark.archives`: the directory name they are unpacked to (`#alias`). */
    archiveAlias: z.string().regex(/^[A-Za-z0-9_-]+$/).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.key !== artifactKey(a.sha256, a.file)) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: `must be ${artifactKey(a.sha256, a.file)}` });
    }
  });
export type Artifact = z.infer<typeof ArtifactSchema>;

export const ManifestSchema = z
  .object({
    schemaVersion: z.literal(1),
    builtFor: z
      .object({
        releaseLabel: z.string(),
        sparkVersion: z.string(),
        pythonVersion: z.string().regex(/^3\.\d+$/),
        /** `x86_64` / `aarch64` for EMR Serverless, `host` for a local host-platform build. */
        architecture: z.enum(['x86_64', 'aarch64', 'host']),
        /** pip `--platform` tags the Python dependencies were resolved for (empty for a host build). */
        platforms: z.array(z.string()),
        implementation: z.literal('cp'),
        /** The image's interpreter the archive's launcher execs (release catalogue); absent in host builds. */
        interpreter: z.string().optional(),
      })
      .strict(),
    /** SHA-256 of the inputs (requirements, jobs sources, pom, models) — what a rebuild compares. */
    inputs: z.record(z.string(), sha256Hex),
    /** Resolved Python distributions in the dependency archive: name → version. */
    pythonPackages: z.record(z.string(), z.string()),
    artifacts: z.array(ArtifactSchema).min(1),
    /** Spark properties that make EMR Serverless use the dependency archive (no URIs: the builder adds those). */
    sparkConf: z.record(z.string(), z.string()),
  })
  .strict()
  .superRefine((m, ctx) => {
    for (const kind of ['python-deps', 'pyfiles'] as const) {
      if (!m.artifacts.some((a) => a.kind === kind)) {
        ctx.addIssue({ code: 'custom', path: ['artifacts'], message: `must contain a "${kind}" artifact` });
      }
    }
    const files = new Set<string>();
    m.artifacts.forEach((a, i) => {
      if (files.has(a.file)) ctx.addIssue({ code: 'custom', path: ['artifacts', i, 'file'], message: `duplicate file ${a.file}` });
      files.add(a.file);
    });
  });
export type Manifest = z.infer<typeof ManifestSchema>;

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export type BuiltFor = Manifest['builtFor'];

/** What a stage needs its artifacts built for (a `BuildTarget` of lib/config/emr-releases.ts has these fields). */
export interface ExpectedBuild {
  readonly releaseLabel: string;
  readonly pythonVersion: string;
  readonly architecture: 'x86_64' | 'aarch64';
}

/**
 * Driver environment variables telling a job what its artifacts were built for (the job entry compares them with
 * the interpreter and Spark it runs on: jobs/common/runtime.py), set through the manifest's `sparkConf`.
 */
export const BUILT_FOR_ENV = {
  releaseLabel: 'EMRPIPE_BUILT_FOR_RELEASE',
  pythonVersion: 'EMRPIPE_BUILT_FOR_PYTHON',
  sparkVersion: 'EMRPIPE_BUILT_FOR_SPARK',
} as const;

/** `spark.emr-serverless.driverEnv.<EMRPIPE_BUILT_FOR_*>` → the build's release, Python and Spark version. */
export function builtForSparkConf(build: Pick<BuiltFor, 'releaseLabel' | 'pythonVersion' | 'sparkVersion'>): Record<string, string> {
  return Object.fromEntries(
    (Object.keys(BUILT_FOR_ENV) as Array<keyof typeof BUILT_FOR_ENV>).map((field) => [`spark.emr-serverless.driverEnv.${BUILT_FOR_ENV[field]}`, build[field]]),
  );
}

/** `emr-spark-8.0.0 / CPython 3.11 / x86_64`. */
export function describeBuild(build: Pick<BuiltFor, 'releaseLabel' | 'pythonVersion' | 'architecture'>): string {
  return `${build.releaseLabel} / CPython ${build.pythonVersion} / ${build.architecture === 'host' ? 'host (this machine)' : build.architecture}`;
}

/** The fields of `builtFor` that differ from `expected` (`architecture: x86_64, expected aarch64`), empty when it fits. */
export function builtForMismatches(builtFor: BuiltFor, expected: ExpectedBuild): string[] {
  return (['releaseLabel', 'pythonVersion', 'architecture'] as const)
    .filter((field) => builtFor[field] !== expected[field])
    .map((field) => `${field}: ${builtFor[field]}, expected ${expected[field]}`);
}

/** `artifacts/<sha256>/<file>`. */
export function artifactKey(sha256: string, file: string): string {
  return `artifacts/${sha256}/${file}`;
}

/** `manifests/<sha256 of the manifest bytes>.json`. */
export function manifestKey(manifestSha256: string): string {
  return `manifests/${manifestSha256}.json`;
}

export const CURRENT_MANIFEST_KEY = 'manifests/current.json';

/** Keys written per manifest that never change content (cacheable forever). */
export function isImmutableManifestKey(key: string): boolean {
  return /^manifests\/[0-9a-f]{64}\.json$/.test(key);
}

/** Validates a parsed manifest. @throws ManifestError naming the field. */
export function parseManifest(raw: unknown, source = 'manifest'): Manifest {
  const result = ManifestSchema.safeParse(raw);
  if (!result.success) {
    const details = result.error.issues
      .map((i) => `${source}${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`)
      .join('; ');
    throw new ManifestError(`Invalid artifact manifest: ${details}`);
  }
  return result.data;
}

/** Canonical bytes of a manifest: keys in a fixed order, two-space indent, trailing newline. */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(sortKeys(manifest), null, 2)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function findArtifact(manifest: Manifest, kind: ArtifactKind, file?: string): Artifact | undefined {
  return manifest.artifacts.find((a) => a.kind === kind && (file === undefined || a.file === file));
}
