import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { StageConfigError, loadStageConfig } from '../lib/config/stage-config';
import { addPlatform } from '../lib/stacks/platform';
import { addPlatformOutputs } from '../lib/stacks/platform-outputs';
import { addDeploymentPipeline } from '../lib/stacks/deployment-pipeline-stack';

/**
 * CDK app entry: `cdk synth` / `cdk deploy` (stage `dev` by default, `-c stage=prod` for another).
 * cdk-nag (AwsSolutions + Serverless) runs on every synth: an unacknowledged finding fails it.
 */
const app = new App();
let config;
try {
  config = loadStageConfig((key) => app.node.tryGetContext(key));
} catch (e) {
  if (e instanceof StageConfigError) {
    console.error(e.message);
    process.exit(1);
  }
  throw e;
}
if (config.pipeline.enabled) {
  // CI/CD: the app is the deployment pipeline, which deploys dev, smoke-tests it, and after approval prod.
  const stageConfig = (stage: string) => loadStageConfig((key) => (key === 'stage' ? stage : app.node.tryGetContext(key)));
  try {
    addDeploymentPipeline(app, config, stageConfig);
  } catch (e) {
    if (e instanceof StageConfigError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
} else {
  // `-c artifactsDir=<dir>`: job artifacts packaged somewhere other than artifacts/ (`npm run package`'s output)
  const artifactsDir: string | undefined = app.node.tryGetContext('artifactsDir');
  addPlatformOutputs(addPlatform(app, config, artifactsDir ? { artifactsDir } : {}));
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
