import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readmeTestLine } from '../lib/stacks/deployment-pipeline-stack';
import { stackNames } from '../lib/stacks/platform';

/** The documented GitHub Actions workflow: same test line, OIDC only, one deploy per stage, prod protected. */
const path = join(__dirname, '..', '.github', 'workflows', 'deploy.yml');
const text = readFileSync(path, 'utf8');
const workflow = parse(text) as {
  permissions: Record<string, string>;
  jobs: Record<string, { needs?: string; environment?: string; permissions?: Record<string, string>; steps: Array<{ uses?: string; run?: string; with?: Record<string, string> }> }>;
};
const runs = (job: string) => workflow.jobs[job]!.steps.map((s) => s.run).filter(Boolean) as string[];

test('the test job runs the README test line', () => {
  expect(runs('test')).toEqual([readmeTestLine()]);
});

test('no long-lived keys: credentials only through OIDC role assumption', () => {
  expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID/);
  expect(workflow.permissions).toEqual({ contents: 'read' });
  for (const job of ['deploy-dev', 'deploy-prod']) {
    expect(workflow.jobs[job]!.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    const creds = workflow.jobs[job]!.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
    expect(creds?.with?.['role-to-assume']).toBe('${{ vars.AWS_DEPLOY_ROLE_ARN }}');
  }
  expect(workflow.jobs.test!.permissions).toBeUndefined(); // inherits contents: read, no id-token
});

test('cdk deploy per stage, dev (with the smoke test) before prod, prod behind its protected environment', () => {
  expect(workflow.jobs['deploy-dev']).toMatchObject({ needs: 'test', environment: 'dev' });
  expect(workflow.jobs['deploy-prod']).toMatchObject({ needs: 'deploy-dev', environment: 'prod' });
  for (const stage of ['dev', 'prod']) {
    const commands = runs(`deploy-${stage}`);
    expect(commands).toContain(`bash scripts/synth.sh ${stage}`);
    // each stage's own build (its architecture/Python/release), before its synth checks it (R4)
    expect(commands.indexOf(`npm run package -- --stage ${stage}`)).toBeGreaterThan(-1);
    expect(commands.indexOf(`npm run package -- --stage ${stage}`)).toBeLessThan(commands.indexOf(`bash scripts/synth.sh ${stage}`));
    expect(commands).toContain(`npx cdk deploy --app cdk.out --require-approval never ${Object.values(stackNames(stage)).join(' ')}`);
  }
  expect(runs('deploy-dev').at(-1)).toMatch(/^node bin\/emrpipe\.mjs --stage dev .*smoke/);
});
