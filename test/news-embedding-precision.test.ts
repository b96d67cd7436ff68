import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { getJobDefinition, parseJobArgs, toEntryPointArguments } from '../lib/jobs/catalog';
import { parseStageConfig } from '../lib/config/stage-config';
import { planEnvironmentFor, planEnvironmentSchema } from '../lib/pipelines/common';
import { plan as newsPlan } from '../lib/pipelines/news-enrichment';
import { checkModelFiles } from '../scripts/package-artifacts';

/** The news jobs' embedding precision: int8 by default, fp32 selectable, anything else rejected naming the field. */
const execution = { name: 'news-1', stateMachine: 'emr-ml-dev-news-enrichment' };
const envFor = (news: Record<string, unknown> = {}) =>
  planEnvironmentFor(parseStageConfig('dev', { news }), { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' });

describe('catalog', () => {
  test.each(['ml_processing', 'train_topic_model'])('%s takes --embedding-precision int8|fp32 and rejects others', (name) => {
    const job = getJobDefinition(name);
    const base = name === 'ml_processing'
      ? { resultUri: 's3://bucket/r.json', source: 'postgres', sink: 'postgres' }
      : { resultUri: 's3://bucket/r.json', input: 's3://bucket/in/', modelRoot: 's3://bucket/topic' };
    expect(toEntryPointArguments(job, parseJobArgs(job, { ...base, embeddingPrecision: 'fp32' }))).toEqual(
      expect.arrayContaining(['--embedding-precision', 'fp32']),
    );
    // absent → the job's own default (int8)
    expect(toEntryPointArguments(job, parseJobArgs(job, base))).not.toContain('--embedding-precision');
    expect(() => parseJobArgs(job, { ...base, embeddingPrecision: 'fp16' })).toThrow(/args\.embeddingPrecision: must be "int8" or "fp32"/);
  });
});

describe('news-enrichment', () => {
  test('the plan passes int8 by default, the input or the stage selects fp32', () => {
    const defaults = envFor();
    expect(defaults.defaults.news.embeddingPrecision).toBe('int8');
    expect(planEnvironmentSchema.parse(defaults).defaults.news.embeddingPrecision).toBe('int8'); // survives PLAN_ENVIRONMENT
    expect(newsPlan({}, defaults, execution).steps.mlProcessing.args).toMatchObject({ embeddingPrecision: 'int8' });
    expect(newsPlan({ embeddingPrecision: 'fp32' }, defaults, execution).steps.mlProcessing.args).toMatchObject({ embeddingPrecision: 'fp32' });
    expect(newsPlan({}, envFor({ embeddingPrecision: 'fp32' }), execution).steps.mlProcessing.args).toMatchObject({ embeddingPrecision: 'fp32' });
  });

  test('a bad precision is rejected naming the field', () => {
    expect(() => newsPlan({ embeddingPrecision: 'int4' }, envFor(), execution)).toThrow(/input\.embeddingPrecision: must be "int8" or "fp32"/);
    expect(() => envFor({ embeddingPrecision: 'bf16' })).toThrow(/stages\.dev\.news\.embeddingPrecision: must be "int8" or "fp32"/);
  });
});

describe('models archive check', () => {
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const modelDir = (files: Record<string, string>, listed: Record<string, string>, precisions: Record<string, { file: string }>) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'models-check-'));
    fs.mkdirSync(path.join(root, 'm'));
    for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(root, 'm', file), text);
    fs.writeFileSync(path.join(root, 'm', 'manifest.json'), JSON.stringify({ files: listed, precisions }));
    return root;
  };

  test('a model directory ships only complete: every listed file with its sha256, every precision file listed', () => {
    const precisions = { fp32: { file: 'model.onnx' }, int8: { file: 'model_int8.onnx' } };
    const complete = { 'model.onnx': 'a', 'model_int8.onnx': 'b', 'tokenizer.json': 't' };
    const listed = Object.fromEntries(Object.entries(complete).map(([f, t]) => [f, sha(t)]));
    expect(() => checkModelFiles(modelDir(complete, listed, precisions))).not.toThrow();
    const { 'model_int8.onnx': _, ...withoutInt8 } = complete;
    expect(() => checkModelFiles(modelDir(withoutInt8, listed, precisions))).toThrow(/m\/model_int8\.onnx: missing/);
    const { 'model_int8.onnx': __, ...listedWithoutInt8 } = listed;
    expect(() => checkModelFiles(modelDir(complete, listedWithoutInt8, precisions))).toThrow(/precision file model_int8\.onnx is not in files/);
    expect(() => checkModelFiles(modelDir({ ...complete, 'model_int8.onnx': 'stale' }, listed, precisions))).toThrow(/model_int8\.onnx: missing or not the file/);
  });

  const built = path.join(__dirname, '..', 'assets', 'models', 'all-MiniLM-L6-v2', 'manifest.json');
  // scripts/setup.sh builds the model (scripts/build-models.py) before any test runs
  test('the built all-MiniLM-L6-v2 directory passes and lists the int8 export as the default', () => {
    const manifest = JSON.parse(fs.readFileSync(built, 'utf-8'));
    expect(manifest.defaultPrecision).toBe('int8');
    expect(manifest.precisions.int8.file).toBe('model_int8.onnx');
    expect(manifest.files['model_int8.onnx']).toMatch(/^[0-9a-f]{64}$/);
    expect(() => checkModelFiles(path.dirname(path.dirname(built)))).not.toThrow();
  });
});
